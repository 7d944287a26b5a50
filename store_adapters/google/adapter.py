"""The Google Play adapter as the engine's use cases see it (`service.stores.GoogleGateway`).

    adapter = factory.google_adapter(settings.google, session, clock)
    adapter.authenticate_push(request.headers.get("Authorization"))  # 401 before storing
    deliveries.receive(..., adapter.notifications, body)              # 400 kept, or merged
    purchases.register_purchase(..., adapter.from_purchase(...), ...)

`notifications.read(body)` decodes an (already authenticated) push, fetches the truth with
the Developer API and returns the records, with acknowledgements as follow-ups to run once
the state is committed.
"""

from __future__ import annotations

import json

from iap_engine.domain import Store
from iap_engine.service.deliveries import ReadDelivery
from iap_engine.service.errors import StoreRejected
from iap_engine.service.purchases import Verified
from store_adapters.google.errors import (
    InvalidPurchaseToken,
    PlayNotConfigured,
    PlayUnavailable,
    PurchaseGone,
    PushMalformed,
    SignedDataRejected,
)
from store_adapters.google.gateway import PlayGateway
from store_adapters.google.notification import DeveloperNotification
from store_adapters.google.push import PushReceiver
from store_adapters.google.signature import LicenseKey, verify_purchase

API_SETTING = "google.service_account_file"


class PlayNotifications:
    """`NotificationReader` for Pub/Sub push bodies."""

    def __init__(self, receiver: PushReceiver, gateway: PlayGateway | None) -> None:
        self._receiver = receiver
        self._gateway = gateway

    @property
    def store(self) -> Store:
        return Store.PLAY_STORE

    def delivery_id(self, body: bytes) -> str | None:
        try:
            document = json.loads(body)
            message_id = document["message"]["messageId"]
        except (ValueError, KeyError, TypeError):
            return None
        return message_id if isinstance(message_id, str) and message_id else None

    def read(self, body: bytes) -> ReadDelivery:
        _envelope, notification = self._receiver.parse(body)
        store_type = _store_type(notification)
        if notification.kind in ("test", "other"):
            return ReadDelivery(records=(), store_type=store_type)
        gateway = _require(self._gateway)
        try:
            played = gateway.records_for(notification)
        except PurchaseGone:
            # Google forgot the token (60 days after expiry): nothing left to learn.
            return ReadDelivery(records=(), store_type=store_type)
        except InvalidPurchaseToken as error:
            raise PushMalformed("invalid_token", error.message) from None
        except PlayNotConfigured as error:
            # Kept and retried: the delivery is good, the configuration must be fixed.
            raise PlayUnavailable(error.message) from None
        return ReadDelivery(
            records=tuple(p.record for p in played),
            store_type=store_type,
            follow_ups=gateway.acknowledgements(played),
        )


class GooglePlayAdapter:
    def __init__(
        self,
        receiver: PushReceiver,
        gateway: PlayGateway | None,
        license_key: LicenseKey | None,
        package_name: str,
    ) -> None:
        self._receiver = receiver
        self._gateway = gateway
        self._license_key = license_key
        self._package_name = package_name
        self._notifications = PlayNotifications(receiver, gateway)

    @property
    def notifications(self) -> PlayNotifications:
        return self._notifications

    @property
    def gateway(self) -> PlayGateway | None:
        return self._gateway

    def authenticate_push(self, authorization: str | None) -> None:
        """Raises `PushUnauthenticated` (401) or `PlayUnavailable` (Google's keys unreachable:
        answer 503 so Pub/Sub retries)."""
        self._receiver.authenticate(authorization)

    def from_purchase(
        self,
        product_id: str,
        purchase_token: str,
        signed_data: str | None,
        signature: str | None,
    ) -> Verified:
        """A purchase token from the app, confirmed with the Developer API.

        Signed data, when given, is checked first (fast, local) and must be for the same token
        and product. The token is looked up as a subscription, then as a one-time product.
        """
        if signed_data is not None or signature is not None:
            self._check_signed(product_id, purchase_token, signed_data, signature)
        gateway = _require(self._gateway)
        try:
            played = gateway.subscription(purchase_token)
        except (InvalidPurchaseToken, PurchaseGone) as subscription_error:
            try:
                played = gateway.product(product_id, purchase_token)
            except (InvalidPurchaseToken, PurchaseGone):
                raise subscription_error from None
        else:
            state = played.record.event.state
            if state is not None and state.product_id != product_id:
                raise StoreRejected("product_mismatch", "the purchase token is for another product")
        return Verified(records=(played.record,), follow_ups=gateway.acknowledgements([played]))

    def _check_signed(
        self,
        product_id: str,
        purchase_token: str,
        signed_data: str | None,
        signature: str | None,
    ) -> None:
        if signed_data is None or signature is None:
            raise SignedDataRejected("malformed", "signed_data and signature go together")
        if self._license_key is None:
            raise PlayNotConfigured(
                "google.license_public_key",
                "checking signed purchase data needs google.license_public_key",
            )
        purchase = verify_purchase(self._license_key, signed_data, signature, self._package_name)
        if purchase.purchase_token != purchase_token:
            raise SignedDataRejected("token_mismatch", "the signed data is for another token")
        if product_id not in purchase.product_ids:
            raise SignedDataRejected("product_mismatch", "the signed data is for another product")


def _require(gateway: PlayGateway | None) -> PlayGateway:
    if gateway is None:
        raise PlayUnavailable(
            f"fetching Google Play purchases needs {API_SETTING} (a service-account key);"
            " the delivery is kept and retried once it is set"
        )
    return gateway


def _store_type(notification: DeveloperNotification) -> str:
    if notification.subscription is not None:
        return notification.subscription.name
    if notification.one_time_product is not None:
        return notification.one_time_product.name
    if notification.voided_purchase is not None:
        return "VOIDED_PURCHASE"
    if notification.test:
        return "TEST"
    return "UNKNOWN:" + ",".join(notification.other)
