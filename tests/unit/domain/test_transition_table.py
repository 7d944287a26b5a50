"""Every (status, event kind) pair of the lifecycle table, and what apply() does with it."""

from __future__ import annotations

from dataclasses import replace
from itertools import product

import pytest

from iap_engine.domain import (
    TRANSITIONS,
    Anomaly,
    Applied,
    EventKind,
    Ignored,
    Status,
    Subscription,
    Verdict,
    apply,
)
from tests.support.builders import at, event, new_subscription, period, state

ALL_PAIRS = list(product(Status, EventKind))


def subscription_in(status: Status) -> Subscription:
    """A subscription that has heard from its store and now holds `status`."""
    start = new_subscription().merge_facts([period("t-1", at(0), at(30))])
    return start.with_state(state(status, at(30)), at(1))


def test_the_table_covers_every_pair_exactly_once() -> None:
    assert set(TRANSITIONS) == set(ALL_PAIRS)
    assert len(TRANSITIONS) == len(Status) * len(EventKind)


@pytest.mark.parametrize(("status", "kind"), ALL_PAIRS, ids=lambda v: str(v))
def test_apply_follows_the_table(status: Status, kind: EventKind) -> None:
    rule = TRANSITIONS[status, kind]
    subscription = subscription_in(status)
    later = at(2)

    # A newer store report with a status the rule allows ...
    allowed = sorted(rule.leads_to)[0]
    report = state(allowed, at(31))
    outcome = apply(subscription, event(kind, later, report))
    # (The report moves expires_at, so even an informational event changes something.)
    assert isinstance(outcome, Anomaly if rule.verdict is Verdict.ANOMALY else Applied)
    # ... is applied in every case: the store's newer report is the truth.
    assert outcome.subscription.status is allowed
    assert outcome.subscription.expires_at == at(31)
    assert outcome.subscription.last_store_time == later

    # A newer report with a status outside the rule is an anomaly, still applied.
    outside = [s for s in Status if s not in rule.leads_to]
    if outside:
        surprising = apply(subscription, event(kind, later, state(outside[0], at(31))))
        assert isinstance(surprising, Anomaly)
        assert surprising.subscription.status is outside[0]

    # An event without a report never changes the current fields.
    bare = apply(subscription, event(kind, later))
    expected_type = Anomaly if rule.verdict is Verdict.ANOMALY else Ignored
    assert isinstance(bare, expected_type)
    assert bare.subscription.state == subscription.state
    assert bare.subscription.last_store_time == subscription.last_store_time

    # An older report is recorded but changes nothing current.
    stale = apply(subscription, event(kind, at(0.5), state(allowed, at(99))))
    assert isinstance(stale, Ignored)
    assert stale.subscription.state == subscription.state


@pytest.mark.parametrize(
    ("status", "kind", "leads_to"),
    [
        (Status.ACTIVE, EventKind.RENEWED, {Status.ACTIVE}),
        (Status.GRACE_PERIOD, EventKind.RECOVERED, {Status.ACTIVE}),
        (Status.BILLING_RETRY, EventKind.RECOVERED, {Status.ACTIVE}),
        # Google reports the resumption of a paused subscription as SUBSCRIPTION_RECOVERED.
        (Status.PAUSED, EventKind.RECOVERED, {Status.ACTIVE}),
        (Status.ACTIVE, EventKind.GRACE_PERIOD_STARTED, {Status.GRACE_PERIOD}),
        (
            Status.GRACE_PERIOD,
            EventKind.GRACE_PERIOD_EXPIRED,
            {Status.BILLING_RETRY, Status.EXPIRED},
        ),
        (Status.ACTIVE, EventKind.AUTO_RENEW_DISABLED, {Status.ACTIVE}),
        (Status.ACTIVE, EventKind.PAUSED, {Status.PAUSED}),
        (
            Status.PAUSED,
            EventKind.RESUMED,
            {Status.ACTIVE, Status.GRACE_PERIOD, Status.BILLING_RETRY},
        ),
        (Status.PENDING, EventKind.PENDING_CANCELED, {Status.EXPIRED}),
        (Status.ACTIVE, EventKind.REFUNDED, {Status.ACTIVE, Status.REVOKED, Status.EXPIRED}),
        (
            Status.REVOKED,
            EventKind.REFUND_REVERSED,
            {
                Status.REVOKED,
                Status.ACTIVE,
                Status.GRACE_PERIOD,
                Status.BILLING_RETRY,
                Status.PAUSED,
                Status.EXPIRED,
            },
        ),
    ],
)
def test_the_lifecycle_reads_as_the_stores_behave(
    status: Status, kind: EventKind, leads_to: set[Status]
) -> None:
    rule = TRANSITIONS[status, kind]
    assert rule.verdict is Verdict.APPLY
    assert rule.leads_to == leads_to


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (Status.EXPIRED, EventKind.RENEWED),  # a renewal after expiry: we missed something
        (Status.ACTIVE, EventKind.RECOVERED),  # recovered from a failure we never heard of
        (Status.PENDING, EventKind.PAUSED),
        (Status.EXPIRED, EventKind.GRACE_PERIOD_STARTED),
    ],
)
def test_events_that_do_not_fit_are_anomalies(status: Status, kind: EventKind) -> None:
    assert TRANSITIONS[status, kind].verdict is Verdict.ANOMALY


def test_informational_events_never_change_anything_by_themselves() -> None:
    subscription = subscription_in(Status.ACTIVE)
    for kind in (EventKind.TEST, EventKind.CONSUMPTION_REQUESTED, EventKind.PRICE_INCREASE):
        same = apply(subscription, event(kind, at(2), subscription.state))
        assert isinstance(same, Ignored)
        assert same.subscription.state == subscription.state


def test_the_first_report_is_applied_whatever_its_kind() -> None:
    fresh = new_subscription()
    outcome = apply(fresh, event(EventKind.RENEWED, at(1), state(Status.ACTIVE, at(30))))
    assert isinstance(outcome, Applied)
    assert outcome.subscription.status is Status.ACTIVE


def test_a_duplicate_report_is_ignored() -> None:
    subscription = subscription_in(Status.ACTIVE)
    again = apply(subscription, event(EventKind.RENEWED, at(1), subscription.state))
    assert isinstance(again, Ignored)
    assert again.reason == "duplicate of the current state"
    assert replace(again.subscription) == subscription
