"""How facts merge: by identity, in any order, never regressing."""

from __future__ import annotations

from iap_engine.domain import EventKind, RevocationReason, Status, apply
from tests.support.builders import at, event, new_subscription, period, revocation, state


def test_a_refund_applies_even_before_the_period_it_refunds_arrives() -> None:
    refund = event(EventKind.REFUNDED, at(10), revocations=(revocation("t-2", at(10)),))
    renewal = event(
        EventKind.RENEWED,
        at(3),
        state(Status.ACTIVE, at(60)),
        periods=(period("t-2", at(30), at(60)),),
    )
    refund_first = apply(apply(new_subscription(), refund).subscription, renewal).subscription
    renewal_first = apply(apply(new_subscription(), renewal).subscription, refund).subscription
    for subscription in (refund_first, renewal_first):
        assert subscription.is_revoked(subscription.periods[0])
    assert refund_first.periods == renewal_first.periods
    assert refund_first.revocations == renewal_first.revocations


def test_a_reversal_newer_than_the_refund_wins_whatever_the_order() -> None:
    refunded = revocation("t-1", at(5), as_of=at(5))
    reversed_ = revocation("t-1", None, as_of=at(8))
    one = new_subscription().merge_facts(revocations=[refunded, reversed_])
    other = new_subscription().merge_facts(revocations=[reversed_, refunded])
    assert one.revocation_of("t-1") is None
    assert one.revocations == other.revocations


def test_the_newest_report_of_a_period_wins() -> None:
    original = period("t-1", at(0), at(30), as_of=at(0))
    extended = period("t-1", at(0), at(37), as_of=at(20))  # a store renewal-date extension
    merged = new_subscription().merge_facts([extended]).merge_facts([original])
    assert merged.periods == (extended,)


def test_grace_granted_after_a_period_is_never_taken_back() -> None:
    with_grace = period("t-1", at(0), at(30), as_of=at(31), grace_ends_at=at(46))
    later_report = period("t-1", at(0), at(30), as_of=at(40))  # e.g. from transaction history
    merged = new_subscription().merge_facts([with_grace]).merge_facts([later_report])
    assert merged.periods[0].grace_ends_at == at(46)
    assert merged.periods[0].as_of == at(40)


def test_a_grace_report_becomes_a_fact_of_the_failed_term() -> None:
    failed = event(
        EventKind.GRACE_PERIOD_STARTED,
        at(30),
        state(Status.GRACE_PERIOD, at(30), grace_expires_at=at(46)),
        periods=(period("t-1", at(0), at(30)),),
    )
    subscription = apply(new_subscription(), failed).subscription
    assert subscription.periods[0].grace_ends_at == at(46)


def test_a_grace_end_left_over_in_an_active_report_extends_nothing() -> None:
    renewed = event(
        EventKind.RENEWED,
        at(30),
        state(Status.ACTIVE, at(60), grace_expires_at=at(76)),
        periods=(period("t-2", at(30), at(60)),),
    )
    subscription = apply(new_subscription(), renewed).subscription
    assert subscription.periods[0].grace_ends_at is None


def test_an_immediate_upgrade_ends_the_period_it_replaces() -> None:
    monthly = period("t-1", at(0), at(30), product_id="monthly.basic")
    upgrade = period("t-2", at(10), at(40), product_id="monthly", replaces_prior=True)
    renewal_after = period("t-3", at(40), at(70))
    subscription = new_subscription().merge_facts([renewal_after, upgrade, monthly])
    assert subscription.replaced_at(subscription.period("t-1")) == at(10)
    assert subscription.replaced_at(subscription.period("t-2")) is None
    assert subscription.access_span(subscription.period("t-1")) == (at(0), at(10))


def test_a_refunded_current_period_reads_as_revoked() -> None:
    subscription = (
        new_subscription()
        .merge_facts([period("t-1", at(0), at(30))], [revocation("t-1", at(3))])
        .with_state(state(Status.ACTIVE, at(30)), at(3))
    )
    assert subscription.status is Status.ACTIVE  # as the store reported it
    assert subscription.effective_status is Status.REVOKED


def test_a_refund_of_an_old_period_leaves_the_current_one_alone() -> None:
    subscription = (
        new_subscription()
        .merge_facts(
            [period("t-1", at(0), at(30)), period("t-2", at(30), at(60))],
            [revocation("t-1", at(40), reason=RevocationReason.REFUNDED_APP_ISSUE)],
        )
        .with_state(state(Status.ACTIVE, at(60)), at(40))
    )
    assert subscription.effective_status is Status.ACTIVE
    assert subscription.revocation_of("t-1") is not None
