"""What the use cases need from each store, as Protocols the store adapters implement."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from iap_engine.service.deliveries import NotificationReader
from iap_engine.service.purchases import Verified


class AppleGateway(Protocol):
    @property
    def notifications(self) -> NotificationReader: ...

    def from_signed_transaction(self, signed_transaction: str) -> Verified:
        """A StoreKit 2 signed transaction from the app (needs no API credentials)."""
        ...

    def from_transaction_id(self, transaction_id: str) -> Verified:
        """Any transaction id, through the App Store Server API."""
        ...

    def from_receipt(self, receipt: str) -> Verified:
        """A base64 app receipt: its transactions, resolved through the store."""
        ...

    def original_ids_for_order(self, order_id: str) -> Sequence[str]:
        """The original transaction ids on an App Store invoice (Look Up Order ID)."""
        ...


class GoogleGateway(Protocol):
    @property
    def notifications(self) -> NotificationReader: ...

    def authenticate_push(self, authorization: str | None) -> None:
        """Check a Pub/Sub push's OIDC token; raises DeliveryRejected(authentication=True)."""
        ...

    def from_purchase(
        self,
        product_id: str,
        purchase_token: str,
        signed_data: str | None,
        signature: str | None,
    ) -> Verified:
        """A purchase token from the app, verified with the Play Developer API."""
        ...
