"""Deliveries: stored first, merged once, retried with backoff, finished by replay."""

from __future__ import annotations

import json
from datetime import timedelta

from iap_engine.domain import DeliveryStatus, EventKind, Status, Store
from iap_engine.persistence.unit_of_work import SqlUnitOfWorkFactory
from iap_engine.service.deliveries import (
    ATTEMPTS_BEFORE_DEAD,
    ReadDelivery,
    Result,
    _store_raw,
    process,
    receive,
)
from iap_engine.service.replay import replay_deliveries
from tests.conftest import ManualClock
from tests.support.builders import CATALOG, at, event, period, state
from tests.support.fakes import FakeReader, record


def renewal() -> ReadDelivery:
    return ReadDelivery(
        (
            record(
                Store.APP_STORE,
                "2000009",
                event(
                    EventKind.RENEWED,
                    at(30),
                    state(Status.ACTIVE, at(60)),
                    periods=(period("2000009-2", at(30), at(60)),),
                ),
            ),
        )
    )


def body(delivery_id: str, ref: str) -> bytes:
    return json.dumps({"id": delivery_id, "ref": ref}).encode()


def status_of(uow_factory: SqlUnitOfWorkFactory, delivery_id: int):
    with uow_factory(readonly=True) as uow:
        return uow.inbox.get(delivery_id)


def test_a_delivery_stored_before_a_crash_is_finished_by_replay(
    uow_factory: SqlUnitOfWorkFactory, clock: ManualClock
) -> None:
    reader = FakeReader(Store.APP_STORE, {"renew": renewal})
    # The process stored the raw delivery, then died before merging it.
    stored = _store_raw(uow_factory, clock, reader, body("uuid-1", "renew"))
    assert stored.status is DeliveryStatus.RECEIVED
    summary = replay_deliveries(uow_factory, clock, CATALOG, {Store.APP_STORE: reader})
    assert dict(summary.counts) == {"processed": 1}
    assert summary.complete
    assert status_of(uow_factory, stored.id).status is DeliveryStatus.PROCESSED
    with uow_factory(readonly=True) as uow:
        assert uow.subscriptions.by_store_key(Store.APP_STORE, "2000009") is not None
    # Replaying again finds nothing left to do.
    assert replay_deliveries(uow_factory, clock, CATALOG, {Store.APP_STORE: reader}).total == 0


def test_a_store_outage_backs_off_then_gives_up_and_replay_failed_revives_it(
    uow_factory: SqlUnitOfWorkFactory, clock: ManualClock
) -> None:
    reader = FakeReader(Store.PLAY_STORE, {"renew": renewal})
    first = receive(uow_factory, clock, CATALOG, reader, body("msg-1", "down"))
    assert first.result is Result.DEFERRED
    delays = []
    for _ in range(ATTEMPTS_BEFORE_DEAD - 1):
        current = status_of(uow_factory, first.delivery.id)
        if current.next_attempt_at is not None:
            delays.append(current.next_attempt_at - clock.now())
        process(uow_factory, clock, CATALOG, reader, current)
    assert delays[:3] == [timedelta(seconds=30), timedelta(seconds=60), timedelta(seconds=120)]
    assert max(delays) == timedelta(hours=6)
    dead = status_of(uow_factory, first.delivery.id)
    assert dead.status is DeliveryStatus.DEAD
    assert dead.attempts == ATTEMPTS_BEFORE_DEAD
    # Plain replay leaves given-up deliveries alone; --failed tries them again.
    assert replay_deliveries(uow_factory, clock, CATALOG, {Store.PLAY_STORE: reader}).total == 0
    reader.outcomes["down"] = renewal  # the store is back
    summary = replay_deliveries(
        uow_factory, clock, CATALOG, {Store.PLAY_STORE: reader}, include_given_up=True
    )
    assert dict(summary.counts) == {"processed": 1}


def test_replay_failed_retries_rejected_deliveries(
    uow_factory: SqlUnitOfWorkFactory, clock: ManualClock
) -> None:
    reader = FakeReader(Store.APP_STORE, {"renew": renewal})
    rejected = receive(uow_factory, clock, CATALOG, reader, body("uuid-9", "forged"))
    assert rejected.result is Result.REJECTED
    assert replay_deliveries(uow_factory, clock, CATALOG, {Store.APP_STORE: reader}).total == 0
    again = replay_deliveries(
        uow_factory, clock, CATALOG, {Store.APP_STORE: reader}, include_given_up=True
    )
    assert dict(again.counts) == {"rejected": 1}
    assert not again.complete


def test_deliveries_of_a_store_not_configured_are_reported(
    uow_factory: SqlUnitOfWorkFactory, clock: ManualClock
) -> None:
    reader = FakeReader(Store.PLAY_STORE, {})
    _store_raw(uow_factory, clock, reader, body("msg-7", "renew"))
    summary = replay_deliveries(uow_factory, clock, CATALOG, {})
    assert summary.unserved == {Store.PLAY_STORE}
    assert not summary.complete
