"""Reconciliation use cases with fake store sources, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, select, update

from iap_engine.domain import EventKind, Source, Status, Store, StoreRecord, Subscription
from iap_engine.domain.schedule import AFTER_ACCESS_ENDS, next_check
from iap_engine.persistence.subscriptions import SqlSubscriptions
from iap_engine.persistence.tables import subscriptions
from iap_engine.persistence.unit_of_work import SqlUnitOfWorkFactory
from iap_engine.service.deliveries import ReadDelivery, _store_raw
from iap_engine.service.errors import ConcurrentUpdate, StoreRejected, StoreUnavailable
from iap_engine.service.policy import DEFAULT_POLICY, Policy
from iap_engine.service.reconcile import (
    AFTER_STORE_FAILURE,
    CURSOR_OVERLAP,
    FIRST_LOOKBACK,
    Check,
    Checked,
    Due,
    claim_and_load,
    fetch,
    follow_history,
    merge,
    release_leases,
    retry_deliveries,
)
from iap_engine.service.recording import record_input
from iap_engine.service.stores import HistoryPage
from tests.conftest import ManualClock
from tests.support.builders import CATALOG, at, event, period, state
from tests.support.fakes import FakeReader, record

LEASE = timedelta(minutes=5)


def purchase(key: str, days: float = 30) -> StoreRecord:
    return record(
        Store.APP_STORE,
        key,
        event(
            EventKind.PURCHASED,
            at(0),
            state(Status.ACTIVE, at(days)),
            periods=(period(f"{key}-1", at(0), at(days)),),
        ),
    )


def renewal(key: str, n: int, store_time: datetime) -> StoreRecord:
    start = at(30 * (n - 1))
    return record(
        Store.APP_STORE,
        key,
        event(
            EventKind.REFRESHED,
            store_time,
            state(Status.ACTIVE, start + timedelta(days=30)),
            periods=(period(f"{key}-{n}", start, start + timedelta(days=30)),),
        ),
    )


# A window longer than the tests' terms, so that access ends decide the schedule.
LONG = Policy(recheck_window=timedelta(days=365))


def store(uow_factory: SqlUnitOfWorkFactory, *records: StoreRecord) -> list[Subscription]:
    with uow_factory() as uow:
        saved = [
            record_input(
                uow, CATALOG, r, now=at(0), source=Source.PURCHASE, policy=LONG
            ).subscription
            for r in records
        ]
        uow.commit()
    return saved


def next_check_of(engine: Engine, subscription_id: str) -> tuple:
    with engine.connect() as connection:
        row = connection.execute(
            select(
                subscriptions.c.next_check_at,
                subscriptions.c.lease_owner,
                subscriptions.c.lease_expires_at,
            ).where(subscriptions.c.id == subscription_id)
        ).one()
    return tuple(row)


def claim(
    uow_factory: SqlUnitOfWorkFactory, clock: ManualClock, worker: str = "w", limit: int = 10
) -> list[Due]:
    return claim_and_load(uow_factory, clock, worker=worker, limit=limit, lease=LEASE)


def check(
    uow_factory: SqlUnitOfWorkFactory,
    clock: ManualClock,
    source: FakeState,
    due: list[Due],
    *,
    worker: str = "w",
    policy: Policy = DEFAULT_POLICY,
) -> list[Checked]:
    """Ask the store about each claimed subscription and merge the answers, as a worker does."""
    fetched = [fetch({Store.APP_STORE: source}, d) for d in due]
    return merge(uow_factory, clock, CATALOG, fetched, worker=worker, policy=policy)


def claimed_renewals(
    uow_factory: SqlUnitOfWorkFactory, clock: ManualClock, keys: list[str]
) -> tuple[list[Subscription], FakeState, list[Due]]:
    """Subscriptions bought at day 0, claimed at day 31, with a store that renewed them all."""
    stored = store(uow_factory, *(purchase(k) for k in keys))
    clock.set(at(31))
    source = FakeState({k: renewal(k, 2, at(30, hours=1)) for k in keys})
    return stored, source, claim(uow_factory, clock)


@dataclass
class FakeState:
    answers: dict[str, object] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def store(self) -> Store:
        return Store.APP_STORE

    def current(self, subscription: Subscription, token: str | None) -> ReadDelivery:
        with self.lock:
            self.calls.append(subscription.store_key)
        answer = self.answers.get(subscription.store_key)
        if isinstance(answer, Exception):
            raise answer
        if answer is None:
            return ReadDelivery(())
        assert isinstance(answer, StoreRecord)
        return ReadDelivery((answer,))


def test_a_new_subscription_is_scheduled_at_its_access_end_or_rolling_slot(
    uow_factory: SqlUnitOfWorkFactory, engine: Engine
) -> None:
    (subscription,) = store(uow_factory, purchase("1001"))
    expected = next_check(subscription, at(0), LONG.recheck_window)
    assert expected is not None and expected <= at(30) + AFTER_ACCESS_ENDS
    assert next_check_of(engine, subscription.id) == (expected, None, None)
    with uow_factory() as uow:
        weekly = record_input(
            uow, CATALOG, purchase("1002"), now=at(0), source=Source.PURCHASE
        ).subscription
        uow.commit()
    expected = next_check(weekly, at(0), DEFAULT_POLICY.recheck_window)
    assert expected is not None and expected <= at(7)
    assert next_check_of(engine, weekly.id)[0] == expected


def test_due_subscriptions_are_claimed_exclusively_and_leases_expire(
    uow_factory: SqlUnitOfWorkFactory, clock: ManualClock
) -> None:
    store(uow_factory, *(purchase(f"{1000 + i}", days=1) for i in range(30)))
    clock.set(at(2))
    claims: dict[str, list[str]] = {}
    barrier = threading.Barrier(3, timeout=30)

    def worker(name: str) -> None:
        barrier.wait()
        claims[name] = [d.subscription.id for d in claim(uow_factory, clock, name, limit=12)]

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    claimed = [sid for ids in claims.values() for sid in ids]
    assert len(claimed) == len(set(claimed)) == 30  # everything, nothing twice
    # Nobody can claim what is leased ...
    assert claim(uow_factory, clock, "late", limit=100) == []
    # ... until the lease of a dead worker expires.
    clock.advance(LEASE + timedelta(seconds=1))
    assert len(claim(uow_factory, clock, "late", limit=100)) == 30
    assert release_leases(uow_factory, worker="late") == 30


def test_a_renewal_the_webhook_never_announced_is_merged(
    uow_factory: SqlUnitOfWorkFactory, clock: ManualClock, engine: Engine
) -> None:
    (subscription,) = store(uow_factory, purchase("2001"))
    clock.set(at(31))
    source = FakeState({"2001": renewal("2001", 2, at(30, hours=1))})
    (checked,) = check(uow_factory, clock, source, claim(uow_factory, clock), policy=LONG)
    assert checked.result is Check.UPDATED
    with uow_factory(readonly=True) as uow:
        after = uow.subscriptions.get(subscription.id)
        timeline = uow.timeline.for_subscription(subscription.id)
    assert [p.transaction_id for p in after.periods] == ["2001-1", "2001-2"]
    assert after.expires_at == at(60)
    assert timeline[-1].source.value == "reconcile"
    expected = next_check(after, at(31), LONG.recheck_window)
    assert expected is not None and expected <= at(60) + AFTER_ACCESS_ENDS
    assert next_check_of(engine, subscription.id) == (expected, None, None)


def test_a_store_outage_reschedules_and_a_gone_purchase_stops_polling(
    uow_factory: SqlUnitOfWorkFactory, clock: ManualClock, engine: Engine
) -> None:
    down, gone = store(uow_factory, purchase("3001"), purchase("3002"))
    clock.set(at(31))
    source = FakeState(
        {"3001": StoreUnavailable("503"), "3002": StoreRejected("purchase_gone", "410")}
    )
    results = {
        c.subscription_id: c.result
        for c in check(uow_factory, clock, source, claim(uow_factory, clock))
    }
    assert results == {down.id: Check.UNAVAILABLE, gone.id: Check.GONE}
    assert next_check_of(engine, down.id) == (at(31) + AFTER_STORE_FAILURE, None, None)
    assert next_check_of(engine, gone.id) == (None, None, None)
    with uow_factory(readonly=True) as uow:
        note = uow.timeline.for_subscription(gone.id)[-1].note
    assert "no longer knows" in note


def test_a_deleted_account_does_not_stop_reconciliation(
    uow_factory: SqlUnitOfWorkFactory, clock: ManualClock
) -> None:
    (subscription,) = store(uow_factory, purchase("4001"))
    with uow_factory() as uow:
        loaded = uow.subscriptions.get(subscription.id)
        uow.subscriptions.save(replace(loaded, app_user_id=None, account_deleted=True), at(1))
        uow.commit()
    clock.set(at(31))
    source = FakeState({"4001": renewal("4001", 2, at(30, hours=1))})
    due = claim(uow_factory, clock)
    assert [d.subscription.id for d in due] == [subscription.id]
    check(uow_factory, clock, source, due)
    with uow_factory(readonly=True) as uow:
        after = uow.subscriptions.get(subscription.id)
    assert after.account_deleted and after.expires_at == at(60)


@dataclass
class FakeHistory:
    pages: list[HistoryPage]
    asked: list[tuple[datetime, datetime, str | None]] = field(default_factory=list)
    fail_at: int | None = None

    @property
    def store(self) -> Store:
        return Store.APP_STORE

    @property
    def cursor_name(self) -> str:
        return "fake.history"

    def page(self, start: datetime, end: datetime, token: str | None) -> HistoryPage:
        self.asked.append((start, end, token))
        index = int(token or 0)
        if self.fail_at == index:
            raise StoreUnavailable("history unavailable")
        return replace(
            self.pages[index], next_token=str(index + 1) if index + 1 < len(self.pages) else None
        )


def test_history_is_read_from_its_cursor_and_ingested_like_webhooks(
    uow_factory: SqlUnitOfWorkFactory, clock: ManualClock
) -> None:
    def renewal_delivery() -> ReadDelivery:
        return ReadDelivery((renewal("5001", 2, at(30, hours=1)),))

    reader = FakeReader(Store.APP_STORE, {"renew": renewal_delivery})
    body = json.dumps({"id": "uuid-5", "ref": "renew"}).encode()
    history = FakeHistory(
        [HistoryPage(deliveries=(body,)), HistoryPage(records=(purchase("5002"),))]
    )
    clock.set(at(40))
    first = follow_history(uow_factory, clock, CATALOG, history, reader)
    assert (first.deliveries, first.records, first.complete) == (1, 1, True)
    assert history.asked[0][0] == at(40) - FIRST_LOOKBACK - CURSOR_OVERLAP
    with uow_factory(readonly=True) as uow:
        assert uow.subscriptions.by_store_key(Store.APP_STORE, "5001") is not None
        assert uow.subscriptions.by_store_key(Store.APP_STORE, "5002") is not None
        assert uow.cursors.get("fake.history") == at(40).isoformat()
    # The next run starts where this one ended (minus the overlap); a repeated notification
    # is recognised by the inbox like a repeated webhook.
    clock.set(at(41))
    history.asked.clear()
    follow_history(uow_factory, clock, CATALOG, history, reader)
    assert history.asked[0][0] == at(40) - CURSOR_OVERLAP
    assert reader.reads == 1
    # A failure part-way keeps the cursor where it was.
    history.fail_at = 1
    clock.set(at(42))
    assert not follow_history(uow_factory, clock, CATALOG, history, reader).complete
    with uow_factory(readonly=True) as uow:
        assert uow.cursors.get("fake.history") == at(41).isoformat()


def test_deliveries_left_behind_are_retried_once_settled(
    uow_factory: SqlUnitOfWorkFactory, clock: ManualClock
) -> None:
    def renewal_delivery() -> ReadDelivery:
        return ReadDelivery((renewal("6001", 2, at(30, hours=1)),))

    reader = FakeReader(Store.APP_STORE, {"renew": renewal_delivery})
    _store_raw(uow_factory, clock, reader, json.dumps({"id": "u-6", "ref": "renew"}).encode())
    fresh = retry_deliveries(uow_factory, clock, CATALOG, {Store.APP_STORE: reader})
    assert fresh.processed == 0  # maybe still being processed by its request
    clock.advance(timedelta(minutes=2))
    later = retry_deliveries(uow_factory, clock, CATALOG, {Store.APP_STORE: reader})
    assert later.processed == 1


def test_an_anomaly_asks_for_a_check_at_once(
    uow_factory: SqlUnitOfWorkFactory, engine: Engine
) -> None:
    (subscription,) = store(uow_factory, purchase("7001"))
    surprising = record(
        Store.APP_STORE,
        "7001",
        event(EventKind.RECOVERED, at(2), state(Status.ACTIVE, at(30))),
    )
    with uow_factory() as uow:
        record_input(uow, CATALOG, surprising, now=at(2), source=Source.PURCHASE)
        uow.commit()
    assert next_check_of(engine, subscription.id)[0] == at(2)
    with engine.begin() as connection:  # keep the fixture's data tidy for the next test
        connection.execute(update(subscriptions).values(next_check_at=None))


def saving_fails_for(
    monkeypatch: pytest.MonkeyPatch, store_key: str, error: Exception, times: int
) -> list[str]:
    """Make saving the subscription with `store_key` raise `error` (the first `times` tries)."""
    original = SqlSubscriptions.save
    failed: list[str] = []

    def save(self: SqlSubscriptions, subscription: Subscription, *args, **kwargs):  # type: ignore[no-untyped-def]
        if subscription.store_key == store_key and len(failed) < times:
            failed.append(subscription.id)
            raise error
        return original(self, subscription, *args, **kwargs)

    monkeypatch.setattr(SqlSubscriptions, "save", save)
    return failed


def test_answers_are_merged_as_a_group_and_leases_released(
    uow_factory: SqlUnitOfWorkFactory, clock: ManualClock, engine: Engine
) -> None:
    keys = ["8101", "8102", "8103", "8104"]
    stored = store(uow_factory, *(purchase(k) for k in keys))
    clock.set(at(31))
    source = FakeState(
        {
            "8101": renewal("8101", 2, at(30, hours=1)),
            "8102": renewal("8102", 2, at(30, hours=2)),
            "8103": StoreUnavailable("503"),
            # 8104: the store has nothing newer
        }
    )
    due = claim(uow_factory, clock)
    assert sorted(d.subscription.store_key for d in due) == keys
    checked = check(uow_factory, clock, source, due, policy=LONG)
    # In the order given, whatever order they were merged in.
    assert [c.subscription_id for c in checked] == [d.subscription.id for d in due]
    results = {d.subscription.store_key: c.result for d, c in zip(due, checked, strict=True)}
    assert results == {
        "8101": Check.UPDATED,
        "8102": Check.UPDATED,
        "8103": Check.UNAVAILABLE,
        "8104": Check.UNCHANGED,
    }
    with uow_factory(readonly=True) as uow:
        after = {s.store_key: uow.subscriptions.get(s.id) for s in stored}
    assert after["8101"].expires_at == after["8102"].expires_at == at(60)
    assert after["8104"].expires_at == at(30)
    for subscription in stored:
        _, owner, expires = next_check_of(engine, subscription.id)
        assert (owner, expires) == (None, None)
    down = next(s for s in stored if s.store_key == "8103")
    assert next_check_of(engine, down.id)[0] == at(31) + AFTER_STORE_FAILURE


def test_a_race_in_a_group_redoes_each_alone_and_loses_nothing(
    uow_factory: SqlUnitOfWorkFactory,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stored, source, due = claimed_renewals(uow_factory, clock, ["8201", "8202", "8203"])
    # Another writer beats the group to 8202, and then the first retry of it alone.
    raced = saving_fails_for(monkeypatch, "8202", ConcurrentUpdate("a webhook was first"), 2)
    checked = check(uow_factory, clock, source, due, policy=LONG)
    assert [c.result for c in checked] == [Check.UPDATED] * 3
    assert len(raced) == 2
    with uow_factory(readonly=True) as uow:
        for subscription in stored:
            after = uow.subscriptions.get(subscription.id)
            # Each merged exactly once: one reconciliation entry, the renewal's period.
            assert [p.transaction_id for p in after.periods][-1] == f"{after.store_key}-2"
            timeline = uow.timeline.for_subscription(subscription.id)
            assert [e.source for e in timeline].count(Source.RECONCILE) == 1


def test_a_merge_that_keeps_failing_costs_only_its_own_subscription(
    uow_factory: SqlUnitOfWorkFactory,
    clock: ManualClock,
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stored, source, due = claimed_renewals(uow_factory, clock, ["8301", "8302", "8303"])
    saving_fails_for(monkeypatch, "8302", RuntimeError("disk full"), 100)
    checked = check(uow_factory, clock, source, due, policy=LONG)
    results = {d.subscription.store_key: c.result for d, c in zip(due, checked, strict=True)}
    assert results == {"8301": Check.UPDATED, "8302": Check.FAILED, "8303": Check.UPDATED}
    broken = next(s for s in stored if s.store_key == "8302")
    # Still leased to this worker: nobody re-fetches it before the lease expires ...
    assert next_check_of(engine, broken.id)[1:] == ("w", at(31) + LEASE)
    with uow_factory(readonly=True) as uow:
        assert uow.subscriptions.get(broken.id).expires_at == at(30)
    # ... and once it has, the next run fetches and merges it.
    monkeypatch.undo()
    clock.set(at(31) + LEASE + timedelta(seconds=1))
    (again,) = claim(uow_factory, clock, "w2")
    assert again.subscription.id == broken.id
    (retried,) = check(uow_factory, clock, source, [again], worker="w2")
    assert retried.result is Check.UPDATED


def test_a_webhook_between_the_claim_and_the_merge_is_kept(
    uow_factory: SqlUnitOfWorkFactory, clock: ManualClock
) -> None:
    (subscription,) = store(uow_factory, purchase("8401"))
    clock.set(at(31))
    (due,) = claim(uow_factory, clock)
    # The store's answer (the renewal) is fetched ...
    source = FakeState({"8401": renewal("8401", 2, at(30, hours=1))})
    fetched = fetch({Store.APP_STORE: source}, due)
    # ... while the next renewal's webhook is merged.
    with uow_factory() as uow:
        record_input(
            uow, CATALOG, renewal("8401", 3, at(60, hours=1)), now=at(31), source=Source.WEBHOOK
        )
        uow.commit()
    (checked,) = merge(uow_factory, clock, CATALOG, [fetched], worker="w", policy=LONG)
    assert checked.result is Check.UPDATED
    with uow_factory(readonly=True) as uow:
        after = uow.subscriptions.get(subscription.id)
    assert [p.transaction_id for p in after.periods] == ["8401-1", "8401-2", "8401-3"]
    assert after.expires_at == at(90)  # the older answer did not take the newer state back
