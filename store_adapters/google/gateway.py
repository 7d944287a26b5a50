"""What the service layer calls: fetch the truth from Google Play and normalize it.

    gateway = PlayGateway(client, PlanCatalog(client, clock), clock)
    for played in gateway.records_for(push.notification):   # or .subscription(token)
        store(played.record)                                 # merge with domain.apply()
        if played.acknowledgement is not None:
            gateway.acknowledge(played.acknowledgement)      # after storing, never before

Each call may raise the `errors` tree: `PurchaseGone` (a definite answer: Google forgot the
token), `InvalidPurchaseToken`, `PlayNotConfigured`, `PlayUnavailable` (retry later).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from iap_engine.service.ports import Clock
from store_adapters.google.catalog import PlanCatalog
from store_adapters.google.client import PlayClient
from store_adapters.google.errors import PurchaseGone
from store_adapters.google.normalize import (
    Acknowledgement,
    PlayRecord,
    normalize_product,
    normalize_subscription,
    normalize_voided,
    plan_key,
    voided_from_notification,
)
from store_adapters.google.notification import (
    DeveloperNotification,
    OneTimeProductNotification,
    SubscriptionNotification,
)


@dataclass(frozen=True, slots=True)
class VoidedBatch:
    records: tuple[PlayRecord, ...]
    # Pass back as `page_token` to continue; None when the listing is complete.
    next_page_token: str | None


class PlayGateway:
    def __init__(self, client: PlayClient, plans: PlanCatalog, clock: Clock) -> None:
        self.client = client
        self._plans = plans
        self._clock = clock

    def subscription(
        self,
        token: str,
        notification: SubscriptionNotification | None = None,
        event_time: datetime | None = None,
    ) -> PlayRecord:
        """The subscription behind `token` now (reconciliation, purchase verification, or
        the fetch an RTDN asks for)."""
        purchase = self.client.get_subscription(token)
        fetched_at = self._clock.now()
        terms = self._plans.terms(plan_key(purchase))
        return normalize_subscription(
            purchase,
            token=token,
            fetched_at=fetched_at,
            terms=terms,
            notification=notification,
            event_time=event_time,
        )

    def product(
        self,
        product_id: str,
        token: str,
        notification: OneTimeProductNotification | None = None,
        event_time: datetime | None = None,
    ) -> PlayRecord:
        purchase = self.client.get_product(product_id, token)
        return normalize_product(
            purchase,
            token=token,
            product_id=product_id,
            fetched_at=self._clock.now(),
            notification=notification,
            event_time=event_time,
        )

    def records_for(self, notification: DeveloperNotification) -> tuple[PlayRecord, ...]:
        """The records one RTDN leads to. A test notification, or one of a kind this version
        does not know, leads to none (the inbox still keeps it)."""
        when = notification.event_time
        if notification.subscription is not None:
            part = notification.subscription
            return (self.subscription(part.purchase_token, part, when),)
        if notification.one_time_product is not None:
            otp = notification.one_time_product
            return (self.product(otp.sku, otp.purchase_token, otp, when),)
        if notification.voided_purchase is not None:
            voided = notification.voided_purchase
            refreshed = None
            if voided.is_subscription:
                try:
                    refreshed = self.subscription(voided.purchase_token, event_time=when)
                except PurchaseGone:
                    refreshed = None
            return (voided_from_notification(notification, refreshed),)
        return ()

    def voided(
        self, start_time: datetime | None, page_token: str | None = None, max_results: int = 1000
    ) -> VoidedBatch:
        """One page of voided purchases (subscriptions included) as refund records."""
        page = self.client.list_voided(
            start_time=start_time, page_token=page_token, max_results=max_results
        )
        records = tuple(
            record
            for record in (normalize_voided(item) for item in page.voided_purchases)
            if record is not None
        )
        return VoidedBatch(records=records, next_page_token=page.next_page_token)

    def all_voided(self, start_time: datetime, max_results: int = 1000) -> Iterator[PlayRecord]:
        page_token: str | None = None
        while True:
            batch = self.voided(start_time, page_token, max_results)
            yield from batch.records
            if batch.next_page_token is None:
                return
            page_token = batch.next_page_token

    def acknowledge(self, acknowledgement: Acknowledgement) -> None:
        if acknowledgement.kind == "subscription":
            self.client.acknowledge_subscription(acknowledgement.product_id, acknowledgement.token)
        else:
            self.client.acknowledge_product(acknowledgement.product_id, acknowledgement.token)

    def acknowledgements(self, played: Iterable[PlayRecord]) -> tuple[Callable[[], None], ...]:
        """The follow-ups that acknowledge what `played` still needs acknowledged, to run once
        the records are committed."""
        return tuple(
            partial(self.acknowledge, p.acknowledgement)
            for p in played
            if p.acknowledgement is not None
        )
