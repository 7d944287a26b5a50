"""Small builders for domain values, so tests read as the story they check."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from iap_engine.domain import (
    Catalog,
    Environment,
    EventKind,
    ExpirationReason,
    OfferKind,
    Period,
    Product,
    ProductType,
    Revocation,
    RevocationReason,
    Status,
    Store,
    StoreEvent,
    StoreState,
    Subscription,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
MONTH = timedelta(days=30)


def at(days: float = 0, hours: float = 0, minutes: float = 0, seconds: float = 0) -> datetime:
    return T0 + timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


CATALOG = Catalog(
    [
        Product("monthly", ProductType.AUTO_RENEWABLE, ("premium",)),
        Product("monthly.basic", ProductType.AUTO_RENEWABLE, ("basic",)),
        Product("yearly", ProductType.AUTO_RENEWABLE, ("premium", "extra")),
        Product("lifetime", ProductType.NON_CONSUMABLE, ("premium",)),
        Product("coins", ProductType.CONSUMABLE, ()),
        Product("pass", ProductType.NON_RENEWING, ("premium",), duration=timedelta(days=30)),
    ]
)


def period(
    transaction_id: str,
    starts_at: datetime,
    ends_at: datetime | None,
    *,
    product_id: str = "monthly",
    as_of: datetime | None = None,
    offer: OfferKind = OfferKind.NORMAL,
    replaces_prior: bool = False,
    grace_ends_at: datetime | None = None,
    price_micros: int | None = 9_990_000,
    currency: str | None = "USD",
) -> Period:
    return Period(
        transaction_id=transaction_id,
        product_id=product_id,
        starts_at=starts_at,
        ends_at=ends_at,
        offer=offer,
        price_micros=price_micros,
        currency=currency,
        replaces_prior=replaces_prior,
        grace_ends_at=grace_ends_at,
        as_of=as_of or starts_at,
    )


def state(
    status: Status,
    expires_at: datetime | None,
    *,
    product_id: str = "monthly",
    auto_renew: bool = True,
    grace_expires_at: datetime | None = None,
    renewal_product_id: str | None = None,
    expiration_reason: ExpirationReason | None = None,
) -> StoreState:
    return StoreState(
        status=status,
        product_id=product_id,
        auto_renew=auto_renew,
        expires_at=expires_at,
        grace_expires_at=grace_expires_at,
        renewal_product_id=renewal_product_id,
        expiration_reason=expiration_reason,
    )


def revocation(
    transaction_id: str,
    revoked_at: datetime | None,
    *,
    as_of: datetime | None = None,
    reason: RevocationReason | None = RevocationReason.REFUNDED,
) -> Revocation:
    return Revocation(
        transaction_id=transaction_id,
        revoked_at=revoked_at,
        reason=reason if revoked_at is not None else None,
        as_of=as_of or revoked_at or T0,
    )


def event(
    kind: EventKind,
    store_time: datetime,
    state: StoreState | None = None,
    periods: tuple[Period, ...] = (),
    revocations: tuple[Revocation, ...] = (),
) -> StoreEvent:
    return StoreEvent(
        kind=kind, store_time=store_time, state=state, periods=periods, revocations=revocations
    )


def new_subscription(
    subscription_id: str = "sub-1",
    *,
    store: Store = Store.APP_STORE,
    store_key: str = "1000000000000001",
    product_id: str = "monthly",
    app_user_id: str | None = "u-1",
) -> Subscription:
    return Subscription(
        id=subscription_id,
        store=store,
        environment=Environment.SANDBOX,
        store_key=store_key,
        product_id=product_id,
        app_user_id=app_user_id,
    )
