"""Access at an instant: from dated facts, capped by the store's latest report."""

from __future__ import annotations

from datetime import timedelta

from iap_engine.domain import (
    EventKind,
    Status,
    Store,
    access_at,
    apply,
    entitlements_at,
    is_entitled,
)
from tests.support.builders import (
    CATALOG,
    at,
    event,
    new_subscription,
    period,
    revocation,
    state,
)

TICK = timedelta(microseconds=1)


def active_monthly():
    return apply(
        new_subscription(),
        event(
            EventKind.PURCHASED,
            at(0),
            state(Status.ACTIVE, at(30)),
            periods=(period("t-1", at(0), at(30)),),
        ),
    ).subscription


def in_grace():
    """`active_monthly` whose renewal failed on day 30, in a store grace period to day 46."""
    return apply(
        active_monthly(),
        event(
            EventKind.GRACE_PERIOD_STARTED,
            at(30),
            state(Status.GRACE_PERIOD, at(30), grace_expires_at=at(46)),
            periods=(period("t-1", at(0), at(30), as_of=at(30)),),
        ),
    ).subscription


def test_no_proration_cancelling_keeps_access_to_the_end_of_the_paid_period() -> None:
    subscription = active_monthly()
    cancelled = apply(
        subscription,
        event(
            EventKind.AUTO_RENEW_DISABLED,
            at(10),
            state(Status.ACTIVE, at(30), auto_renew=False),
            periods=(period("t-1", at(0), at(30), as_of=at(10)),),
        ),
    ).subscription
    assert cancelled.auto_renew is False
    # No other date moved: same paid end, same period.
    assert cancelled.expires_at == subscription.expires_at == at(30)
    assert [(p.starts_at, p.ends_at) for p in cancelled.periods] == [(at(0), at(30))]
    # Entitled to the last instant of the paid period, and not one instant longer.
    for instant in (at(10), at(20), at(30) - TICK):
        assert is_entitled(cancelled, instant, CATALOG)
    assert not is_entitled(cancelled, at(30), CATALOG)
    assert not is_entitled(cancelled, at(45), CATALOG)


def test_access_never_extends_past_access_until_whatever_is_stored() -> None:
    subscription = active_monthly()  # no word from the store after day 0
    assert is_entitled(subscription, at(30) - TICK, CATALOG)
    assert not is_entitled(subscription, at(30), CATALOG)


def test_grace_period_grants_access_until_the_grace_end_only() -> None:
    subscription = in_grace()
    assert is_entitled(subscription, at(40), CATALOG)
    assert not is_entitled(subscription, at(46), CATALOG)
    # Billing retry after grace: the grace stays granted in the past, nothing after it.
    retrying = apply(
        subscription,
        event(EventKind.GRACE_PERIOD_EXPIRED, at(46), state(Status.BILLING_RETRY, at(30))),
    ).subscription
    assert is_entitled(retrying, at(40), CATALOG)
    assert not is_entitled(retrying, at(50), CATALOG)


def test_recovery_during_grace_continues_access_without_a_gap() -> None:
    recovered = apply(
        in_grace(),
        event(
            EventKind.RECOVERED,
            at(35),
            state(Status.ACTIVE, at(60)),
            periods=(period("t-2", at(35), at(60)),),
        ),
    ).subscription
    for day in (31, 34, 35, 50):
        assert is_entitled(recovered, at(day), CATALOG), day


def test_a_refunded_period_grants_nothing_at_any_instant_inside_it() -> None:
    subscription = apply(
        active_monthly(),
        event(
            EventKind.REFUNDED,
            at(12),
            state(Status.REVOKED, at(30), auto_renew=False),
            periods=(period("t-1", at(0), at(30), as_of=at(12)),),
            revocations=(revocation("t-1", at(12)),),
        ),
    ).subscription
    for day in (0, 5, 11, 12, 20):
        assert not is_entitled(subscription, at(day), CATALOG)


def test_a_refund_of_an_old_period_changes_nothing_now() -> None:
    renewed = apply(
        active_monthly(),
        event(
            EventKind.RENEWED,
            at(30),
            state(Status.ACTIVE, at(60)),
            periods=(period("t-2", at(30), at(60)),),
        ),
    ).subscription
    refunded_old = apply(
        renewed,
        event(
            EventKind.REFUNDED,
            at(40),
            state(Status.ACTIVE, at(60)),
            periods=(period("t-1", at(0), at(30), as_of=at(40)),),
            revocations=(revocation("t-1", at(40)),),
        ),
    ).subscription
    assert is_entitled(refunded_old, at(45), CATALOG)
    assert not is_entitled(refunded_old, at(10), CATALOG)  # the refunded month, in hindsight


def test_past_instants_are_answered_from_the_periods() -> None:
    expired = apply(
        active_monthly(),
        event(EventKind.EXPIRED, at(31), state(Status.EXPIRED, at(30), auto_renew=False)),
    ).subscription
    assert is_entitled(expired, at(15), CATALOG)
    assert not is_entitled(expired, at(31), CATALOG)


def test_an_upgrade_grants_the_new_product_from_its_start() -> None:
    basic = apply(
        new_subscription(product_id="monthly.basic"),
        event(
            EventKind.PURCHASED,
            at(0),
            state(Status.ACTIVE, at(30), product_id="monthly.basic"),
            periods=(period("t-1", at(0), at(30), product_id="monthly.basic"),),
        ),
    ).subscription
    upgraded = apply(
        basic,
        event(
            EventKind.PRODUCT_CHANGED,
            at(10),
            state(Status.ACTIVE, at(40), product_id="yearly"),
            periods=(period("t-2", at(10), at(40), product_id="yearly", replaces_prior=True),),
        ),
    ).subscription
    before = {g.entitlement for g in entitlements_at([upgraded], CATALOG, at(5)) if g.active}
    after = {g.entitlement for g in entitlements_at([upgraded], CATALOG, at(15)) if g.active}
    assert before == {"basic"}
    assert after == {"premium", "extra"}


def test_consumables_grant_nothing_and_non_consumables_grant_for_life() -> None:
    coins = apply(
        new_subscription("sub-c", product_id="coins"),
        event(
            EventKind.PURCHASED,
            at(0),
            state(Status.ACTIVE, None, product_id="coins", auto_renew=False),
            periods=(period("c-1", at(0), None, product_id="coins"),),
        ),
    ).subscription
    lifetime = apply(
        new_subscription("sub-l", product_id="lifetime"),
        event(
            EventKind.PURCHASED,
            at(0),
            state(Status.ACTIVE, None, product_id="lifetime", auto_renew=False),
            periods=(period("l-1", at(0), None, product_id="lifetime"),),
        ),
    ).subscription
    assert access_at(coins, at(1), CATALOG) is None
    access = access_at(lifetime, at(3000), CATALOG)
    assert access is not None and access.until is None


def test_non_renewing_purchases_last_their_configured_term() -> None:
    bought = event(
        EventKind.PURCHASED,
        at(0),
        state(Status.ACTIVE, None, product_id="pass", auto_renew=False),
        periods=(period("p-1", at(0), None, product_id="pass"),),
    )
    subscription = apply(
        new_subscription("sub-p", product_id="pass"), CATALOG.with_fixed_terms(bought)
    ).subscription
    assert subscription.periods[0].ends_at == at(30)
    assert is_entitled(subscription, at(29), CATALOG)
    assert not is_entitled(subscription, at(30), CATALOG)


def test_entitlements_pick_the_best_grant_across_subscriptions() -> None:
    lapsed = apply(
        new_subscription("sub-old", store=Store.PLAY_STORE, store_key="token-old"),
        event(
            EventKind.EXPIRED,
            at(40),
            state(Status.EXPIRED, at(30), auto_renew=False),
            periods=(period("GPA.1", at(0), at(30)),),
        ),
    ).subscription
    current = apply(
        new_subscription("sub-new"),
        event(
            EventKind.PURCHASED,
            at(40),
            state(Status.ACTIVE, at(70)),
            periods=(period("t-9", at(40), at(70)),),
        ),
    ).subscription
    grants = entitlements_at([lapsed, current], CATALOG, at(50))
    assert [(g.entitlement, g.active, g.subscription_id, g.expires_at) for g in grants] == [
        ("premium", True, "sub-new", at(70))
    ]
    earlier = entitlements_at([lapsed, current], CATALOG, at(35))
    assert [(g.entitlement, g.active, g.subscription_id) for g in earlier] == [
        ("premium", False, "sub-old")
    ]
