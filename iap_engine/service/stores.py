"""What the use cases need from each store, as Protocols the store adapters implement."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from iap_engine.domain import Store, StoreRecord, Subscription
from iap_engine.service.deliveries import NotificationReader, ReadDelivery
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


class StateSource(Protocol):
    """A store's current answer about one subscription (reconciliation)."""

    @property
    def store(self) -> Store: ...

    def current(self, subscription: Subscription, token: str | None) -> ReadDelivery:
        """The store's state now: records (kind REFRESHED) and follow-up calls.

        `token` is the newest purchase token of a Google chain. Raises StoreUnavailable when
        the store cannot answer now, StoreRejected when it says the purchase is gone.
        """
        ...


@dataclass(frozen=True, slots=True)
class HistoryPage:
    # Raw notifications to ingest exactly as if delivered (Apple notification history).
    deliveries: tuple[bytes, ...] = ()
    # Facts from store lists (Google voided purchases).
    records: tuple[StoreRecord, ...] = ()
    next_token: str | None = None


class HistorySource(Protocol):
    """A store-wide feed read from a stored cursor: notification history, voided purchases."""

    @property
    def store(self) -> Store: ...

    @property
    def cursor_name(self) -> str: ...

    def page(self, start: datetime, end: datetime, token: str | None) -> HistoryPage: ...
