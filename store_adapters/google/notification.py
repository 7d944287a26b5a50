"""Real-time developer notifications: the `DeveloperNotification` inside a Pub/Sub push.

A notification only says that something changed; the truth is fetched with
purchases.subscriptionsv2.get (or purchases.products.get). Field names and codes are those of
Google's RTDN reference. Codes this version does not know are kept (their number is in the
record) and never make a notification fail to parse.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from store_adapters.google.errors import PushMalformed

# SubscriptionNotification.notificationType, as listed in Google's RTDN reference.
SUBSCRIPTION_TYPES: dict[int, str] = {
    1: "SUBSCRIPTION_RECOVERED",
    2: "SUBSCRIPTION_RENEWED",
    3: "SUBSCRIPTION_CANCELED",
    4: "SUBSCRIPTION_PURCHASED",
    5: "SUBSCRIPTION_ON_HOLD",
    6: "SUBSCRIPTION_IN_GRACE_PERIOD",
    7: "SUBSCRIPTION_RESTARTED",
    8: "SUBSCRIPTION_PRICE_CHANGE_CONFIRMED",  # deprecated by Google, still sent
    9: "SUBSCRIPTION_DEFERRED",
    10: "SUBSCRIPTION_PAUSED",
    11: "SUBSCRIPTION_PAUSE_SCHEDULE_CHANGED",
    12: "SUBSCRIPTION_REVOKED",
    13: "SUBSCRIPTION_EXPIRED",
    17: "SUBSCRIPTION_ITEMS_CHANGED",
    18: "SUBSCRIPTION_CANCELLATION_SCHEDULED",
    19: "SUBSCRIPTION_PRICE_CHANGE_UPDATED",
    20: "SUBSCRIPTION_PENDING_PURCHASE_CANCELED",
    22: "SUBSCRIPTION_PRICE_STEP_UP_CONSENT_UPDATED",
}

# OneTimeProductNotification.notificationType.
ONE_TIME_PRODUCT_TYPES: dict[int, str] = {
    1: "ONE_TIME_PRODUCT_PURCHASED",
    2: "ONE_TIME_PRODUCT_CANCELED",
}

# VoidedPurchaseNotification.productType and .refundType.
VOIDED_PRODUCT_TYPES: dict[int, str] = {1: "PRODUCT_TYPE_SUBSCRIPTION", 2: "PRODUCT_TYPE_ONE_TIME"}
REFUND_TYPES: dict[int, str] = {
    1: "REFUND_TYPE_FULL_REFUND",
    2: "REFUND_TYPE_QUANTITY_BASED_PARTIAL_REFUND",
}


def type_name(table: dict[int, str], code: int) -> str:
    return table.get(code, f"UNKNOWN_{code}")


@dataclass(frozen=True, slots=True)
class SubscriptionNotification:
    notification_type: int
    purchase_token: str

    @property
    def name(self) -> str:
        return type_name(SUBSCRIPTION_TYPES, self.notification_type)


@dataclass(frozen=True, slots=True)
class OneTimeProductNotification:
    notification_type: int
    purchase_token: str
    sku: str

    @property
    def name(self) -> str:
        return type_name(ONE_TIME_PRODUCT_TYPES, self.notification_type)


@dataclass(frozen=True, slots=True)
class VoidedPurchaseNotification:
    purchase_token: str
    order_id: str
    product_type: int
    refund_type: int

    @property
    def is_subscription(self) -> bool:
        return self.product_type == 1

    @property
    def is_partial(self) -> bool:
        return self.refund_type == 2


@dataclass(frozen=True, slots=True)
class DeveloperNotification:
    version: str
    package_name: str
    event_time: datetime
    subscription: SubscriptionNotification | None = None
    one_time_product: OneTimeProductNotification | None = None
    voided_purchase: VoidedPurchaseNotification | None = None
    test: bool = False
    # Top-level keys of a kind this version does not know (e.g. a newer notification type).
    other: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        if self.subscription is not None:
            return "subscription"
        if self.one_time_product is not None:
            return "one_time_product"
        if self.voided_purchase is not None:
            return "voided_purchase"
        if self.test:
            return "test"
        return "other"

    @property
    def purchase_token(self) -> str | None:
        for part in (self.subscription, self.one_time_product, self.voided_purchase):
            if part is not None:
                return part.purchase_token
        return None


_KNOWN_KEYS = frozenset(
    {
        "version",
        "packageName",
        "eventTimeMillis",
        "subscriptionNotification",
        "oneTimeProductNotification",
        "voidedPurchaseNotification",
        "testNotification",
    }
)


def parse_notification(data: bytes) -> DeveloperNotification:
    """Decode the JSON that `message.data` carries; raises `PushMalformed("malformed")`."""
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise _malformed("message.data is not JSON") from None
    if not isinstance(document, dict):
        raise _malformed("message.data is not a JSON object")
    package_name = document.get("packageName")
    if not isinstance(package_name, str) or not package_name:
        raise _malformed("the notification has no packageName")
    return DeveloperNotification(
        version=str(document.get("version", "")),
        package_name=package_name,
        event_time=_event_time(document.get("eventTimeMillis")),
        subscription=_subscription(document.get("subscriptionNotification")),
        one_time_product=_one_time(document.get("oneTimeProductNotification")),
        voided_purchase=_voided(document.get("voidedPurchaseNotification")),
        test=isinstance(document.get("testNotification"), dict),
        other=tuple(sorted(key for key in document if key not in _KNOWN_KEYS)),
    )


def _event_time(value: Any) -> datetime:
    # Google's examples send eventTimeMillis as a JSON string; accept a number too.
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _malformed("the notification has no eventTimeMillis")
    try:
        millis = int(value)
        return datetime.fromtimestamp(millis / 1000, tz=UTC)
    except (ValueError, OverflowError, OSError):
        raise _malformed("eventTimeMillis is not a time in milliseconds") from None


def _code(part: dict[str, Any], name: str) -> int:
    value = part.get(name)
    if isinstance(value, bool):
        raise _malformed(f"{name} is not an integer")
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise _malformed(f"{name} is not an integer") from None


def _text(part: dict[str, Any], name: str, required: bool = True) -> str:
    value = part.get(name)
    if isinstance(value, str) and value:
        return value
    if required:
        raise _malformed(f"{name} is missing")
    return ""


def _object(value: Any, name: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _malformed(f"{name} is not an object")
    return value


def _subscription(value: Any) -> SubscriptionNotification | None:
    part = _object(value, "subscriptionNotification")
    if part is None:
        return None
    return SubscriptionNotification(
        notification_type=_code(part, "notificationType"),
        purchase_token=_text(part, "purchaseToken"),
    )


def _one_time(value: Any) -> OneTimeProductNotification | None:
    part = _object(value, "oneTimeProductNotification")
    if part is None:
        return None
    return OneTimeProductNotification(
        notification_type=_code(part, "notificationType"),
        purchase_token=_text(part, "purchaseToken"),
        sku=_text(part, "sku"),
    )


def _voided(value: Any) -> VoidedPurchaseNotification | None:
    part = _object(value, "voidedPurchaseNotification")
    if part is None:
        return None
    return VoidedPurchaseNotification(
        purchase_token=_text(part, "purchaseToken"),
        order_id=_text(part, "orderId", required=False),
        product_type=_code(part, "productType") if "productType" in part else 0,
        refund_type=_code(part, "refundType") if "refundType" in part else 1,
    )


def _malformed(message: str) -> PushMalformed:
    return PushMalformed("malformed", message)
