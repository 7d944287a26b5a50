"""What reconciliation asks Google Play: a subscription's state now, and the voided
purchases list (refunds and chargebacks), read from a cursor."""

from __future__ import annotations

from datetime import datetime, timedelta

from iap_engine.domain import Store, Subscription
from iap_engine.service.deliveries import ReadDelivery
from iap_engine.service.stores import HistoryPage
from store_adapters.google.gateway import PlayGateway

# How far back voidedpurchases.list may be asked (less a margin for clock differences).
VOIDED_RETENTION = timedelta(days=30) - timedelta(hours=1)


class GoogleStateSource:
    def __init__(self, gateway: PlayGateway) -> None:
        self._gateway = gateway

    @property
    def store(self) -> Store:
        return Store.PLAY_STORE

    def current(self, subscription: Subscription, token: str | None) -> ReadDelivery:
        """subscriptionsv2.get for the chain's newest token; acknowledges if still needed."""
        played = self._gateway.subscription(token or subscription.store_key)
        return ReadDelivery(
            records=(played.record,),
            store_type="SUBSCRIPTION",
            follow_ups=self._gateway.acknowledgements([played]),
        )


class GoogleVoidedPurchases:
    def __init__(self, gateway: PlayGateway) -> None:
        self._gateway = gateway

    @property
    def store(self) -> Store:
        return Store.PLAY_STORE

    @property
    def cursor_name(self) -> str:
        return "google.voided_purchases"

    def page(self, start: datetime, end: datetime, token: str | None) -> HistoryPage:
        # Google refuses a startTime more than 30 days back; older voids are gone from the list.
        earliest = end - VOIDED_RETENTION
        batch = self._gateway.voided(max(start, earliest), token)
        return HistoryPage(
            records=tuple(played.record for played in batch.records),
            next_token=batch.next_page_token,
        )
