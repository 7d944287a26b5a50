"""Full lifecycles against the store emulator, through real HTTP, for both stores.

Every scenario asserts entitlements at several instants. One world (emulator + engine process)
per database serves all scenarios of this module: each scenario has its own customers, and
store time only moves forward.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path

import pytest

from tests.e2e.scenarios import BASIC, PREMIUM, TICK, Customer, World, parse, world
from tests.support.databases import postgres_server_url, scratch_postgres, sqlite_copy

pytestmark = pytest.mark.slow
STORES = ["apple", "google"]
HOUR = timedelta(hours=1)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def shared(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    sqlite_template: Path,
) -> Iterator[World]:
    if request.param == "postgres" and postgres_server_url() is None:
        pytest.skip("PostgreSQL tests need IAP_ENGINE_TEST_POSTGRES_URL")
    folder = tmp_path_factory.mktemp(f"scenarios-{request.param}")
    with ExitStack() as stack:
        if request.param == "postgres":
            url = stack.enter_context(scratch_postgres(postgres_server_url() or ""))
        else:
            url = sqlite_copy(sqlite_template, folder)
        yield stack.enter_context(world(folder, url, start_days_ago=2000))


def customer(shared: World, store: str, name: str) -> Customer:
    return Customer(shared, f"{name}-{store}-{shared.emulator.clock.now().timestamp():.0f}", store)


@pytest.mark.parametrize("store", STORES)
def test_a_free_trial_then_paid_renewals(shared: World, store: str) -> None:
    c = customer(shared, store, "trial").buy(offer="trial")
    bought = shared.now
    assert c.entitled(bought + HOUR)
    shared.advance("P8D")
    shared.advance("P1M")
    periods = c.periods()
    assert [p["offer"] for p in periods][:2] == ["trial", "normal"]
    assert len(periods) >= 3
    for period in periods:
        start, end = parse(period["starts_at"]), parse(period["ends_at"])
        assert c.entitled(start + (end - start) / 2)
    # Renewals meet: no gap between the trial and the first paid term.
    trial_end = parse(periods[0]["ends_at"])
    assert c.entitled(trial_end - TICK)
    assert c.entitled(trial_end)
    assert c.subscription()["status"] == "active"


@pytest.mark.parametrize("store", STORES)
def test_cancel_then_uncancel_keeps_renewing(shared: World, store: str) -> None:
    c = customer(shared, store, "uncancel").buy()
    shared.advance("P10D")
    c.cancel()
    assert c.subscription()["auto_renew"] is False
    assert c.entitled(shared.now)
    c.uncancel()
    first_end = parse(c.subscription()["expires_at"])
    assert c.subscription()["auto_renew"] is True
    shared.advance("P1M")
    assert len(c.periods()) == 2
    assert c.entitled(first_end + HOUR)


@pytest.mark.parametrize("store", STORES)
def test_cancel_and_lapse_keeps_access_to_the_end_not_a_second_longer(
    shared: World, store: str
) -> None:
    c = customer(shared, store, "lapse").buy()
    shared.advance("P5D")
    before = c.subscription()
    c.cancel()
    after_cancel = c.subscription()
    # No proration: cancelling moves no date.
    assert after_cancel["expires_at"] == before["expires_at"]
    assert after_cancel["periods"] == before["periods"]
    paid_end = parse(before["expires_at"])
    assert c.entitled(paid_end - TICK)
    shared.advance("P1M")
    lapsed = c.subscription()
    assert lapsed["status"] == "expired"
    assert lapsed["expiration_reason"] == "voluntary"
    assert c.entitled(paid_end - TICK)
    assert not c.entitled(paid_end)
    assert not c.entitled(paid_end + TICK)
    assert not c.entitled(shared.now)


@pytest.mark.parametrize("store", STORES)
def test_a_billing_failure_then_grace_then_recovery(shared: World, store: str) -> None:
    c = customer(shared, store, "recover").buy()
    paid_end = parse(c.subscription()["expires_at"])
    c.payment(failing=True)
    shared.emulator.advance_to(paid_end + timedelta(days=2))
    shared.deliver()
    in_grace = c.subscription()
    assert in_grace["status"] == "grace_period"
    assert c.entitled(paid_end + timedelta(days=1))
    c.payment(failing=False)
    recovered = c.subscription()
    assert recovered["status"] == "active"
    # Access never stopped: the grace period bridged the failed renewal.
    for offset in (timedelta(0), HOUR, timedelta(days=1), timedelta(days=2)):
        assert c.entitled(paid_end + offset), offset
    assert parse(recovered["expires_at"]) > shared.now


@pytest.mark.parametrize("store", STORES)
def test_a_billing_failure_then_retry_or_hold_then_expiry(shared: World, store: str) -> None:
    c = customer(shared, store, "hold").buy()
    paid_end = parse(c.subscription()["expires_at"])
    c.payment(failing=True)
    grace = timedelta(days=16 if store == "apple" else 7)
    shared.emulator.advance_to(paid_end + grace + timedelta(days=3))
    shared.deliver()
    retrying = c.subscription()
    assert retrying["status"] == "billing_retry"
    assert c.entitled(paid_end + grace - HOUR)  # the grace period was granted
    assert not c.entitled(paid_end + grace + timedelta(days=1))  # the store stopped access
    shared.advance("P90D")
    expired = c.subscription()
    assert expired["status"] == "expired"
    assert expired["expiration_reason"] == "billing_error"
    assert not c.entitled(shared.now)


@pytest.mark.parametrize("store", STORES)
def test_an_upgrade_takes_effect_at_once(shared: World, store: str) -> None:
    c = customer(shared, store, "upgrade").buy(BASIC)
    shared.advance("P10D")
    changed_at = shared.now
    c.change(PREMIUM)
    assert c.entitled(changed_at - HOUR, "basic")
    assert not c.entitled(changed_at - HOUR, "premium")
    assert c.entitled(changed_at + HOUR, "premium")
    assert not c.entitled(changed_at + HOUR, "basic")
    periods = c.periods()
    replaced = [p for p in periods if p["product_id"] == BASIC]
    assert replaced[0]["replaced_at"] is not None
    assert abs(parse(replaced[0]["replaced_at"]) - changed_at) < timedelta(minutes=1)
    assert len(c.world.lookup(c.user)) == 1  # one subscription, whatever the tokens


@pytest.mark.parametrize("store", STORES)
def test_a_downgrade_waits_for_the_renewal(shared: World, store: str) -> None:
    c = customer(shared, store, "downgrade").buy(PREMIUM)
    paid_end = parse(c.subscription()["expires_at"])
    shared.advance("P10D")
    c.change(BASIC)
    assert c.entitled(paid_end - HOUR, "premium")
    if store == "apple":  # the emulated Google announces a deferral only when it takes effect
        assert c.subscription()["renewal_product_id"] == BASIC
    shared.emulator.advance_to(paid_end + timedelta(days=2))
    shared.deliver()
    assert c.entitled(paid_end + timedelta(days=1), "basic")
    assert not c.entitled(paid_end + timedelta(days=1), "premium")
    assert c.entitled(paid_end - HOUR, "premium")
    assert len(c.world.lookup(c.user)) == 1


def test_google_pause_and_resume(shared: World) -> None:
    c = customer(shared, "google", "pause").buy()
    paid_end = parse(c.subscription()["expires_at"])
    emulator = shared.emulator
    assert emulator.google is not None
    with emulator.lock:
        emulator.google.pause(c.key, "P1M")
    shared.deliver()
    assert c.entitled(paid_end - HOUR)
    shared.emulator.advance_to(paid_end + timedelta(days=10))
    shared.deliver()
    assert c.subscription()["status"] == "paused"
    assert not c.entitled(paid_end + timedelta(days=5))
    resumed_at = shared.now
    with emulator.lock:
        emulator.google.resume(c.key)
    shared.deliver()
    assert c.subscription()["status"] == "active"
    assert c.entitled(resumed_at + HOUR)
    assert not c.entitled(paid_end + timedelta(days=5))  # the pause itself stays unpaid


@pytest.mark.parametrize("store", STORES)
def test_refunds_of_an_old_period_and_of_the_current_one(shared: World, store: str) -> None:
    c = customer(shared, store, "refund").buy()
    shared.advance("P1M")
    first, current = c.periods()[0], c.periods()[-1]
    first_middle = parse(first["starts_at"]) + timedelta(days=10)
    emulator = shared.emulator
    with emulator.lock:
        if store == "apple":
            assert emulator.apple is not None
            emulator.apple.refund(first["transaction_id"])
        else:
            assert emulator.google is not None
            emulator.google.refund(c.key, order_id=first["transaction_id"])
    shared.deliver()
    # The old period is refunded in hindsight; nothing changes now.
    assert not c.entitled(first_middle)
    assert c.entitled(shared.now)
    assert c.subscription()["status"] == "active"
    refunded_at = shared.now
    c.refund_current()
    # The current period's refund ends access at once, and for the whole period.
    assert not c.entitled(refunded_at + TICK)
    assert not c.entitled(parse(current["starts_at"]) + HOUR)
    assert c.subscription()["status"] == "revoked"
    revoked = [p for p in c.periods() if p["revoked_at"]]
    assert {p["transaction_id"] for p in revoked} == {
        first["transaction_id"],
        current["transaction_id"],
    }


def test_apple_refund_reversed_restores_access(shared: World) -> None:
    c = customer(shared, "apple", "reversed").buy()
    shared.advance("P3D")
    current = c.periods()[-1]
    c.refund_current()
    assert not c.entitled(shared.now)
    shared.advance("P2D")  # Apple reverses a refund after a dispute, days later
    emulator = shared.emulator
    assert emulator.apple is not None
    with emulator.lock:
        emulator.apple.reverse_refund(current["transaction_id"])
    shared.deliver()
    assert c.entitled(shared.now)
    assert c.subscription()["status"] == "active"
    assert c.periods()[-1]["revoked_at"] is None


def test_apple_family_sharing_revoke(shared: World) -> None:
    purchaser = customer(shared, "apple", "family-owner").buy()
    emulator = shared.emulator
    assert emulator.apple is not None
    with emulator.lock:
        shared_notice = emulator.apple.share(purchaser.key, "member-1")
    shared.deliver()
    member = Customer(
        shared, f"member-of-{purchaser.user}", "apple", shared_notice.original_transaction_id or ""
    )
    member.register(shared_notice.transaction_id)
    assert member.entitled(shared.now)
    shared.advance("P3D")
    with emulator.lock:
        emulator.apple.family_revoke(member.key)  # the member leaves the family
    shared.deliver()
    assert not member.entitled(shared.now)
    assert member.subscription()["status"] == "revoked"
    assert member.periods()[-1]["revocation_reason"] == "family_sharing"
    assert purchaser.entitled(shared.now)


@pytest.mark.parametrize("store", STORES)
def test_account_deletion_mid_life_then_restore_on_a_new_account(shared: World, store: str) -> None:
    c = customer(shared, store, "deleted").buy()
    subscription_id = c.subscription()["subscription_id"]
    shared.advance("P10D")
    erased = shared.call("DELETE", f"/v1/users/{c.user}", "admin")
    assert [r["subscription_id"] for r in erased["still_renewing"]] == [subscription_id]
    assert shared.lookup(c.user) == []
    shared.advance("P1M")
    found = shared.lookup(c.key)
    assert len(found) == 1
    orphan = found[0]
    assert orphan["account_deleted"] is True
    assert orphan["app_user_id"] is None
    assert len(orphan["periods"]) == 2  # the renewal after the deletion was tracked
    # The customer signs up again and restores the purchase.
    again = Customer(shared, f"{c.user}-again", store, c.key)
    restored = again.register()
    assert restored["app_user_id"] == again.user
    assert restored["account_deleted"] is False
    assert again.entitled(shared.now)
    assert not c.entitled(shared.now)


@pytest.mark.parametrize("store", STORES)
def test_duplicated_delayed_and_reordered_deliveries(shared: World, store: str) -> None:
    emulator = shared.emulator
    duplicate = emulator.add_rule("duplicate", store=store)
    c = customer(shared, store, "chaos").buy()
    shared.advance("P1M")
    emulator.remove_rule(duplicate.id)
    delayed = emulator.add_rule("delay", store=store)
    c.cancel()
    assert c.subscription()["auto_renew"] is True  # the cancellation has not arrived yet
    reordered = emulator.add_rule("reorder", store=store, count=2)
    shared.advance("PT1M")  # the customer changes their mind, then again
    c.uncancel()
    shared.advance("PT1M")
    c.cancel()
    emulator.remove_rule(delayed.id)
    emulator.remove_rule(reordered.id)
    shared.deliver()
    final = c.subscription()
    # Whatever the order they came in, the newest store report wins: cancelled.
    assert final["auto_renew"] is False
    assert len(final["periods"]) == 2
    paid_end = parse(final["expires_at"])
    assert c.entitled(paid_end - TICK)
    shared.emulator.advance_to(paid_end + timedelta(days=1))
    shared.deliver()
    assert not c.entitled(paid_end)
    assert c.subscription()["status"] == "expired"
