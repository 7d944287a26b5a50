"""Access at an instant, computed from dated facts (Kill Bill style), never from flags.

A subscription grants access at instant `t` when a period covers `t` (not refunded, not past
its replacement, extended only by a store grace period) and, from the moment of the store's
latest report onwards, that report allows it too: status `active` or `grace_period` and `t`
before `access_until`. So a past `t` is answered from the periods alone, and the read side
never grants access past `access_until`, whatever is stored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from iap_engine.domain.events import Period, StoreEvent
from iap_engine.domain.subscription import Subscription
from iap_engine.domain.values import ACCESS_STATUSES, ProductType, Status, Store


@dataclass(frozen=True, slots=True)
class Product:
    product_id: str
    type: ProductType
    entitlements: tuple[str, ...]
    # Fixed term of a non-renewing subscription (the stores do not say how long it lasts).
    duration: timedelta | None = None


class Catalog:
    """The products the app sells, from configuration. Unknown products grant nothing."""

    def __init__(self, products: Iterable[Product] = ()) -> None:
        self._products: Mapping[str, Product] = {p.product_id: p for p in products}

    def get(self, product_id: str) -> Product | None:
        return self._products.get(product_id)

    def grants_access(self, product_id: str) -> bool:
        product = self._products.get(product_id)
        return product is not None and product.type is not ProductType.CONSUMABLE

    def entitlements_of(self, product_id: str) -> tuple[str, ...]:
        product = self._products.get(product_id)
        if product is None or product.type is ProductType.CONSUMABLE:
            return ()
        return product.entitlements

    def with_fixed_terms(self, event: StoreEvent) -> StoreEvent:
        """Give non-renewing purchases the end their configured duration implies."""
        periods = []
        for period in event.periods:
            product = self._products.get(period.product_id)
            if (
                period.ends_at is None
                and product is not None
                and product.type is ProductType.NON_RENEWING
                and product.duration is not None
            ):
                period = replace(period, ends_at=period.starts_at + product.duration)
            periods.append(period)
        return replace(event, periods=tuple(periods))


@dataclass(frozen=True, slots=True)
class Access:
    """The period that grants access at an instant, and when that access ends (None: never)."""

    period: Period
    until: datetime | None


@dataclass(frozen=True, slots=True)
class Grant:
    entitlement: str
    active: bool
    expires_at: datetime | None
    product_id: str
    store: Store
    subscription_id: str
    status: Status
    auto_renew: bool


def access_at(subscription: Subscription, at: datetime, catalog: Catalog) -> Access | None:
    cap: datetime | None = None
    reported = subscription.last_store_time
    if reported is not None and at >= reported:
        if subscription.effective_status not in ACCESS_STATUSES:
            return None
        cap = subscription.access_until
        if cap is not None and at >= cap:
            return None
    for period in reversed(subscription.periods):
        if not catalog.grants_access(period.product_id):
            continue
        span = subscription.access_span(period)
        if span is None:
            continue
        start, end = span
        if start <= at and (end is None or at < end):
            until = end if cap is None or (end is not None and end < cap) else cap
            return Access(period, until)
    return None


def is_entitled(subscription: Subscription, at: datetime, catalog: Catalog) -> bool:
    return access_at(subscription, at, catalog) is not None


def entitlements_at(
    subscriptions: Iterable[Subscription], catalog: Catalog, at: datetime
) -> tuple[Grant, ...]:
    """One grant per entitlement the subscriptions ever gave, active or not, at `at`.

    Where several subscriptions give the same entitlement, an active grant beats an inactive
    one and, between equals, the later end wins (no end at all being the latest).
    """
    best: dict[str, Grant] = {}
    for subscription in subscriptions:
        if subscription.periods and subscription.periods[0].starts_at > at:
            continue  # bought after `at`: it had nothing to say then
        access = access_at(subscription, at, catalog)
        if access is not None:
            product_id = access.period.product_id
            active, expires_at = True, access.until
        else:
            product_id = subscription.product_id
            active, expires_at = False, _last_end(subscription)
        for name in catalog.entitlements_of(product_id):
            grant = Grant(
                entitlement=name,
                active=active,
                expires_at=expires_at,
                product_id=product_id,
                store=subscription.store,
                subscription_id=subscription.id,
                status=subscription.effective_status,
                auto_renew=subscription.auto_renew,
            )
            known = best.get(name)
            if known is None or _grant_rank(grant) > _grant_rank(known):
                best[name] = grant
    return tuple(best[name] for name in sorted(best))


def _last_end(subscription: Subscription) -> datetime | None:
    return subscription.access_until or (
        subscription.current_period.ends_at if subscription.current_period else None
    )


def _grant_rank(grant: Grant) -> tuple[bool, bool, float]:
    if grant.expires_at is None:
        return (grant.active, True, 0.0)
    return (grant.active, False, grant.expires_at.timestamp())
