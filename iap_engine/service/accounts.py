"""Use case: erase an app account (DESIGN.md section 1, point 3).

Deleting the account does not cancel a store subscription: only the customer can, in the
store. So the subscriptions stay, with every period and event, and keep being reconciled;
only the link to the person goes. The answer lists what the customer still has to cancel.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from urllib.parse import urlencode

from iap_engine.domain import (
    Catalog,
    ProductType,
    Source,
    Status,
    Store,
    Subscription,
    TimelineEntry,
)
from iap_engine.service.ports import Clock, UnitOfWorkFactory
from iap_engine.service.retry import retrying

APPLE_MANAGE_URL = "https://apps.apple.com/account/subscriptions"
GOOGLE_MANAGE_URL = "https://play.google.com/store/account/subscriptions"

# Statuses in which the store will still try to charge the customer if auto-renew is on.
_RENEWING = frozenset(
    {Status.PENDING, Status.ACTIVE, Status.GRACE_PERIOD, Status.BILLING_RETRY, Status.PAUSED}
)


@dataclass(frozen=True, slots=True)
class StillRenewing:
    subscription_id: str
    store: Store
    product_id: str
    expires_at: datetime | None
    manage_url: str


@dataclass(frozen=True, slots=True)
class AccountDeletion:
    still_renewing: tuple[StillRenewing, ...]


def manage_url(subscription: Subscription, google_package: str | None) -> str:
    """Where the customer cancels this subscription themselves."""
    if subscription.store is Store.APP_STORE:
        return APPLE_MANAGE_URL
    query = {"sku": subscription.product_id}
    if google_package:
        query["package"] = google_package
    return f"{GOOGLE_MANAGE_URL}?{urlencode(query)}"


def will_renew(subscription: Subscription, catalog: Catalog) -> bool:
    product = catalog.get(subscription.product_id)
    if product is not None and product.type is not ProductType.AUTO_RENEWABLE:
        return False
    return subscription.auto_renew and subscription.effective_status in _RENEWING


def delete_account(
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    catalog: Catalog,
    app_user_id: str,
    *,
    actor: str,
    google_package: str | None = None,
) -> AccountDeletion:
    """Erase the account's personal data and link; keep and keep tracking its purchases.

    Idempotent: erasing an account the engine does not know answers an empty list.
    """

    def erase() -> AccountDeletion:
        now = clock.now()
        with uow_factory() as uow:
            owned = uow.subscriptions.for_user(app_user_id)
            renewing = tuple(
                StillRenewing(
                    subscription_id=s.id,
                    store=s.store,
                    product_id=s.product_id,
                    expires_at=s.expires_at,
                    manage_url=manage_url(s, google_package),
                )
                for s in owned
                if will_renew(s, catalog)
            )
            for subscription in owned:
                uow.subscriptions.save(
                    replace(subscription, app_user_id=None, account_deleted=True), now
                )
                uow.timeline.append(
                    TimelineEntry(
                        subscription_id=subscription.id,
                        kind="account_deleted",
                        outcome="recorded",
                        store_time=None,
                        received_at=now,
                        source=Source.API,
                        note=(
                            "app account erased; the store subscription is still tracked"
                            + (" and still renews" if will_renew(subscription, catalog) else "")
                        ),
                    )
                )
            uow.customers.delete(app_user_id)
            uow.audit.record(
                now,
                actor,
                "account_deleted",
                None,
                f"{len(owned)} subscription(s) unlinked, {len(renewing)} still renewing",
            )
            uow.commit()
        return AccountDeletion(renewing)

    return retrying(erase)
