"""When reconciliation asks the store again."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from iap_engine.domain import Status
from iap_engine.domain.schedule import (
    AFTER_ACCESS_ENDS,
    DEFAULT_WINDOW,
    WHILE_OVERDUE,
    WHILE_STORE_RETRIES,
    next_check,
    spread,
)
from tests.support.builders import at, new_subscription, period, state


def live(status: Status = Status.ACTIVE, expires_days: float = 30):
    return (
        new_subscription()
        .merge_facts([period("t-1", at(0), at(expires_days))])
        .with_state(state(status, at(expires_days)), at(0))
    )


def test_a_live_subscription_is_checked_shortly_after_its_access_ends() -> None:
    assert next_check(live(expires_days=2), at(1)) == at(2) + AFTER_ACCESS_ENDS


def test_an_overdue_subscription_is_asked_again_hourly_not_in_a_loop() -> None:
    assert next_check(live(expires_days=2), at(3)) == at(3) + WHILE_OVERDUE


def test_billing_retry_and_pause_are_polled_daily() -> None:
    for status in (Status.BILLING_RETRY, Status.PAUSED, Status.PENDING):
        assert next_check(live(status, expires_days=0), at(1)) == at(1) + WHILE_STORE_RETRIES


def test_finished_subscriptions_are_not_polled() -> None:
    for status in (Status.EXPIRED, Status.REVOKED):
        assert next_check(live(status), at(1)) is None


@given(st.text(min_size=1, max_size=20), st.integers(min_value=0, max_value=10_000))
def test_every_live_subscription_is_seen_at_least_once_per_window(
    subscription_id: str, hours: int
) -> None:
    lifetime = replace(live(expires_days=100_000), id=subscription_id)
    now = at(hours=hours)
    check = next_check(lifetime, now)
    assert check is not None
    assert now < check <= now + DEFAULT_WINDOW


def test_rolling_checks_spread_evenly_over_the_window() -> None:
    fractions = sorted(spread(f"sub-{i}") for i in range(10_000))
    for decile in range(1, 10):
        assert abs(fractions[decile * 1000] - decile / 10) < 0.02
    assert spread("sub-1") == spread("sub-1")


def test_the_rolling_slot_stays_put_from_one_check_to_the_next() -> None:
    lifetime = live(expires_days=100_000)
    first = next_check(lifetime, at(0))
    assert first is not None
    assert next_check(lifetime, first) == first + DEFAULT_WINDOW
    assert next_check(lifetime, first - timedelta(seconds=1)) == first
