"""`AppleNotifications`: App Store Server Notifications V2 bodies as the engine reads them
(`iap_engine.service.deliveries.NotificationReader`).

`read` verifies and normalizes one body. A notification about one purchase becomes its
record; one that says nothing of the current state of a subscription (a refund of an older
transaction, without renewalDate) is completed by Get All Subscription Statuses when the API
is configured. TEST notifications, renewal-extension summaries, external purchase tokens
and consent changes have no record: the inbox keeps them as ignored.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

from iap_engine.domain import ProductType, Store, StoreRecord
from iap_engine.service.deliveries import ReadDelivery
from store_adapters.apple.client import api_environment
from store_adapters.apple.errors import AppleApiRejected, Reason, VerificationError

if TYPE_CHECKING:
    from store_adapters.apple.gateway import AppleGateway

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 1024 * 1024


def signed_payload_of(body: bytes | str) -> str:
    """The `signedPayload` of a notification request body (`{"signedPayload": "..."}`)."""
    if len(body) > MAX_BODY_BYTES:
        raise VerificationError(Reason.MALFORMED, "the notification body is too large")
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        raise VerificationError(Reason.MALFORMED, "the notification body is not JSON") from None
    token = document.get("signedPayload") if isinstance(document, dict) else None
    if not isinstance(token, str):
        raise VerificationError(Reason.MALFORMED, "the notification body has no signedPayload")
    return token


class AppleNotifications:
    def __init__(self, gateway: AppleGateway) -> None:
        self._gateway = gateway

    @property
    def store(self) -> Store:
        return Store.APP_STORE

    def delivery_id(self, body: bytes) -> str | None:
        """The notificationUUID, read before verification (retries of a delivery share it)."""
        try:
            return self._gateway.verifier.peek_notification_uuid(signed_payload_of(body))
        except VerificationError:
            return None

    def read(self, body: bytes) -> ReadDelivery:
        """Raises `VerificationError` (a `DeliveryRejected`) or `AppleApiUnavailable`."""
        gateway = self._gateway
        notification = gateway.notification(signed_payload_of(body))
        records: list[StoreRecord] = []
        record = notification.record
        if record is not None:
            records.append(record)
            if (
                record.event.state is None
                and record.product_type is ProductType.AUTO_RENEWABLE
                and gateway.has_api
            ):
                records.extend(self._current_state(record))
        return ReadDelivery(
            records=tuple(records),
            store_type=notification.info.notification_type,
            store_subtype=notification.info.subtype,
        )

    def _current_state(self, record: StoreRecord) -> list[StoreRecord]:
        try:
            found = self._gateway.subscription(
                record.store_key, environment=api_environment(record.environment)
            )
        except AppleApiRejected as error:
            # Apple does not know it (any more): the notification's facts still stand.
            log.warning("no current state for %s: %s", record.store_key, error.reason)
            return []
        return [r for r in found if r.store_key == record.store_key]
