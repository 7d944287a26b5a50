"""What reconciliation asks the App Store: a subscription's state now, and the feed of
notifications Apple sent (Get Notification History), so lost webhooks are caught up."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from iap_engine.domain import Period, Store, StoreRecord, Subscription
from iap_engine.service.deliveries import ReadDelivery
from iap_engine.service.stores import HistoryPage
from store_adapters.apple.client import ApiEnvironment, api_environment
from store_adapters.apple.gateway import AppleGateway

# A term starting later than this after the last one we know means renewals were missed.
_GAP = timedelta(hours=1)


class AppleStateSource:
    def __init__(self, gateway: AppleGateway) -> None:
        self._gateway = gateway

    @property
    def store(self) -> Store:
        return Store.APP_STORE

    def current(self, subscription: Subscription, token: str | None) -> ReadDelivery:
        """Current status, refunds, and the transaction history when renewals were missed.

        Records come oldest facts first; the status (the newest state) last.
        """
        key, environment = subscription.store_key, api_environment(subscription.environment)
        status = _own(self._gateway.subscription(key, environment=environment), key)
        refunds = _own(self._gateway.refunds(key, environment=environment), key)
        history: list[StoreRecord] = []
        if _missed_terms(subscription, status):
            history = _own(self._gateway.history(key, environment=environment), key)
        return ReadDelivery(records=(*history, *refunds, *status), store_type="STATUS")


class AppleNotificationHistory:
    """Get Notification History of one environment (Apple keeps one per environment)."""

    def __init__(self, gateway: AppleGateway, environment: ApiEnvironment) -> None:
        self._gateway = gateway
        self._environment = environment

    @property
    def store(self) -> Store:
        return Store.APP_STORE

    @property
    def cursor_name(self) -> str:
        return f"apple.notification_history.{self._environment.lower()}"

    def page(self, start: datetime, end: datetime, token: str | None) -> HistoryPage:
        answer = self._gateway.signed_notification_history(
            start, end, token, environment=self._environment
        )
        # Each entry is ingested exactly like a webhook body (same inbox, same dedup, same
        # verification), so it is not verified here.
        bodies = tuple(
            json.dumps({"signedPayload": payload}).encode() for payload in answer.signed_payloads
        )
        return HistoryPage(
            deliveries=bodies,
            next_token=answer.pagination_token if answer.has_more else None,
        )


def _own(records: list[StoreRecord], key: str) -> list[StoreRecord]:
    # A customer's answers can cover their other subscription groups too.
    return [r for r in records if r.store_key == key]


def _latest(periods: tuple[Period, ...]) -> Period | None:
    return max(periods, key=lambda p: p.starts_at, default=None)


def _missed_terms(subscription: Subscription, status: list[StoreRecord]) -> bool:
    """Whether terms are missing between the last one we know and the store's latest.

    The status only carries the latest transaction: one missed renewal shows up there, but
    two or more leave a gap that only the transaction history fills.
    """
    known = _latest(subscription.periods)
    reported = _latest(tuple(p for r in status for p in r.event.periods))
    if reported is None:
        return False
    if known is None:
        return True
    return known.ends_at is not None and reported.starts_at > known.ends_at + _GAP
