"""When reconciliation should next fetch a subscription, given the products it sells."""

from __future__ import annotations

from datetime import datetime

from iap_engine.domain import Catalog, ProductType, Subscription
from iap_engine.domain.schedule import next_check
from iap_engine.service.policy import Policy


def renews(subscription: Subscription, catalog: Catalog) -> bool:
    """Whether the store may change this purchase by itself (only subscriptions renew)."""
    product = catalog.get(subscription.product_id)
    if product is not None:
        return product.type is ProductType.AUTO_RENEWABLE
    return subscription.expires_at is not None


def scheduled(
    subscription: Subscription, catalog: Catalog, now: datetime, policy: Policy
) -> datetime | None:
    if not renews(subscription, catalog):
        return None  # one-time purchases change only by refunds, read from the histories
    return next_check(subscription, now, policy.recheck_window)
