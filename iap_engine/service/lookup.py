"""Use cases for support: one subscription in full, and finding subscriptions by any id.

A customer quotes whatever they have: their app user id, an Apple transaction or original
transaction id, a Google order id or purchase token, or the order id on an Apple invoice
(resolved through the App Store Server API when it is configured). Deleted accounts do not
hide anything: their subscriptions are found by every store id.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from iap_engine.domain import Catalog, Store, Subscription, TimelineEntry, is_entitled
from iap_engine.service.errors import NotFound
from iap_engine.service.ports import Clock, UnitOfWork, UnitOfWorkFactory

# Apple invoice order ids: ten or so upper-case letters and digits (e.g. MK5TTTVWJH).
APPLE_ORDER_ID = re.compile(r"^[A-Z0-9]{8,16}$")

# Resolves an Apple order id to original transaction ids through the store's API.
OrderLookup = Callable[[str], Sequence[str]]


@dataclass(frozen=True, slots=True)
class SubscriptionView:
    subscription: Subscription
    entitled: bool
    tokens: tuple[str, ...]
    timeline: tuple[TimelineEntry, ...]


@dataclass(frozen=True, slots=True)
class LookUp:
    query: str
    views: tuple[SubscriptionView, ...]


def subscription_detail(
    uow_factory: UnitOfWorkFactory, clock: Clock, catalog: Catalog, subscription_id: str
) -> SubscriptionView:
    with uow_factory(readonly=True) as uow:
        subscription = uow.subscriptions.get(subscription_id)
        if subscription is None:
            raise NotFound(f"no subscription {subscription_id}")
        return _view(uow, subscription, catalog, clock.now())


def look_up(
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    catalog: Catalog,
    query: str,
    *,
    apple_orders: OrderLookup | None = None,
    at: datetime | None = None,
) -> LookUp:
    """`entitled` in each view is at `at` (default: now)."""
    query = query.strip()
    if not query:
        return LookUp(query, ())
    instant = at or clock.now()
    with uow_factory(readonly=True) as uow:
        found = _local_matches(uow, query)
        if found or apple_orders is None or not APPLE_ORDER_ID.match(query):
            return LookUp(query, _views(uow, found, catalog, instant))
    original_ids = apple_orders(query)  # a store call: no transaction is open
    with uow_factory(readonly=True) as uow:
        for original_id in original_ids:
            match = uow.subscriptions.by_store_key(Store.APP_STORE, original_id)
            if match is not None:
                found.append(match)
        return LookUp(query, _views(uow, found, catalog, instant))


def _local_matches(uow: UnitOfWork, query: str) -> list[Subscription]:
    found: list[Subscription] = []
    found.extend(uow.subscriptions.for_user(query))
    found.extend(uow.subscriptions.by_transaction_id(query))
    for store in Store:
        match = uow.subscriptions.by_store_key(store, query)
        if match is not None:
            found.append(match)
    token_owner = uow.subscriptions.by_token(Store.PLAY_STORE, query)
    if token_owner is not None:
        found.append(token_owner)
    direct = uow.subscriptions.get(query)
    if direct is not None:
        found.append(direct)
    return found


def _views(
    uow: UnitOfWork, found: Sequence[Subscription], catalog: Catalog, at: datetime
) -> tuple[SubscriptionView, ...]:
    unique = {s.id: s for s in found}
    return tuple(_view(uow, s, catalog, at) for s in unique.values())


def _view(
    uow: UnitOfWork, subscription: Subscription, catalog: Catalog, now: datetime
) -> SubscriptionView:
    return SubscriptionView(
        subscription=subscription,
        entitled=is_entitled(subscription, now, catalog),
        tokens=tuple(uow.subscriptions.tokens(subscription.id)),
        timeline=tuple(uow.timeline.for_subscription(subscription.id)),
    )
