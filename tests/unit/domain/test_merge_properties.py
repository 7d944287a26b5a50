"""Order independence and the access invariants, for arbitrary store input (hypothesis).

Webhooks arrive late, twice, out of order: whatever the order, a subscription must end with
the same periods, revocations and current fields as when its inputs are applied in store-time
order; and no reading of it may grant access a store did not sell.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from iap_engine.domain import (
    ACCESS_STATUSES,
    EventKind,
    ExpirationReason,
    OfferKind,
    Period,
    Revocation,
    RevocationReason,
    Status,
    StoreEvent,
    StoreState,
    Subscription,
    access_at,
    apply,
)
from tests.support.builders import CATALOG, at, new_subscription

# Few ids and coarse times, so that inputs collide: same transaction, same store time.
TRANSACTIONS = ("t1", "t2", "t3", "t4")
PRODUCTS = ("monthly", "yearly", "monthly.basic")
days = st.integers(min_value=0, max_value=90)
instants = days.map(lambda d: at(days=d))
maybe_instants = st.none() | instants


@st.composite
def periods(draw: st.DrawFn) -> Period:
    start = draw(days)
    return Period(
        transaction_id=draw(st.sampled_from(TRANSACTIONS)),
        product_id=draw(st.sampled_from(PRODUCTS)),
        starts_at=at(days=start),
        ends_at=at(days=start + draw(st.integers(min_value=1, max_value=40))),
        offer=draw(st.sampled_from(OfferKind)),
        price_micros=draw(st.none() | st.integers(min_value=0, max_value=99_000_000)),
        currency=draw(st.sampled_from((None, "USD", "EUR"))),
        replaces_prior=draw(st.booleans()),
        grace_ends_at=draw(maybe_instants),
        as_of=draw(instants),
    )


@st.composite
def revocations(draw: st.DrawFn) -> Revocation:
    revoked_at = draw(maybe_instants)
    return Revocation(
        transaction_id=draw(st.sampled_from(TRANSACTIONS)),
        revoked_at=revoked_at,
        reason=draw(st.sampled_from(RevocationReason)) if revoked_at else None,
        as_of=draw(instants),
    )


@st.composite
def states(draw: st.DrawFn) -> StoreState:
    return StoreState(
        status=draw(st.sampled_from(Status)),
        product_id=draw(st.sampled_from(PRODUCTS)),
        auto_renew=draw(st.booleans()),
        expires_at=draw(maybe_instants),
        grace_expires_at=draw(maybe_instants),
        renewal_product_id=draw(st.none() | st.sampled_from(PRODUCTS)),
        expiration_reason=draw(st.none() | st.sampled_from(ExpirationReason)),
    )


events = st.builds(
    StoreEvent,
    kind=st.sampled_from(EventKind),
    store_time=instants,
    state=st.none() | states(),
    periods=st.lists(periods(), max_size=3).map(tuple),
    revocations=st.lists(revocations(), max_size=2).map(tuple),
)


def replay(inputs: list[StoreEvent]) -> Subscription:
    subscription = new_subscription()
    for item in inputs:
        subscription = apply(subscription, item).subscription
    return subscription


def facts_and_fields(subscription: Subscription) -> tuple[object, ...]:
    return (
        subscription.periods,
        subscription.revocations,
        subscription.state,
        subscription.last_store_time,
    )


@settings(max_examples=300, deadline=None)
@given(
    inputs=st.lists(events, min_size=1, max_size=8),
    data=st.data(),
)
def test_any_order_with_duplicates_ends_as_store_time_order(
    inputs: list[StoreEvent], data: st.DataObject
) -> None:
    in_store_order = replay(sorted(inputs, key=lambda e: e.store_time))
    duplicates = data.draw(st.lists(st.sampled_from(inputs), max_size=4))
    shuffled = data.draw(st.permutations(inputs + duplicates))
    assert facts_and_fields(replay(shuffled)) == facts_and_fields(in_store_order)


def covers(subscription: Subscription, period: Period, instant: datetime) -> bool:
    """Whether `period` legitimately covers `instant`: its paid term or its store grace."""
    end = period.ends_at
    if period.grace_ends_at is not None and (end is None or period.grace_ends_at > end):
        end = period.grace_ends_at
    return period.starts_at <= instant and (end is None or instant < end)


@settings(max_examples=300, deadline=None)
@given(
    inputs=st.lists(events, min_size=1, max_size=8),
    probes=st.lists(st.integers(min_value=-5, max_value=140 * 24), min_size=1, max_size=12),
)
def test_access_is_only_ever_sold_access(inputs: list[StoreEvent], probes: list[int]) -> None:
    subscription = replay(inputs)
    for hours in probes:
        instant = at() + timedelta(hours=hours)
        access = access_at(subscription, instant, CATALOG)
        if access is None:
            continue
        # Never from a refunded or revoked period, never outside its term or store grace.
        assert not subscription.is_revoked(access.period)
        assert covers(subscription, access.period, instant)
        replaced = subscription.replaced_at(access.period)
        assert replaced is None or instant < replaced
        # From the store's latest report on, that report must allow access too.
        if subscription.last_store_time is not None and instant >= subscription.last_store_time:
            assert subscription.effective_status in ACCESS_STATUSES
            until = subscription.access_until
            assert until is None or instant < until


@settings(max_examples=200, deadline=None)
@given(inputs=st.lists(events, min_size=1, max_size=8), probe=st.integers(0, 140 * 24))
def test_a_refunded_period_never_grants_access(inputs: list[StoreEvent], probe: int) -> None:
    subscription = replay(inputs)
    instant = at() + timedelta(hours=probe)
    access = access_at(subscription, instant, CATALOG)
    for period in subscription.periods:
        if subscription.is_revoked(period) and access is not None:
            assert access.period.transaction_id != period.transaction_id
