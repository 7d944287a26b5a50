"""The job tasks over a real database, with fake stores: run once to completion."""

from __future__ import annotations

import threading
from datetime import timedelta

from iap_engine.domain import Store
from iap_engine.persistence.unit_of_work import SqlUnitOfWorkFactory
from iap_engine.service.policy import DEFAULT_POLICY
from jobs.tasks import JobSettings, Tasks
from tests.conftest import ManualClock
from tests.integration.service.test_reconcile import FakeState, purchase, renewal, store
from tests.support.builders import CATALOG, at


def tasks(uow_factory, clock, source, worker: str = "test-worker") -> Tasks:
    settings = JobSettings(batch_size=7, lease=timedelta(minutes=5), concurrency=4)
    return Tasks(
        uow_factory=uow_factory,
        clock=clock,
        catalog=CATALOG,
        states={Store.APP_STORE: source},
        histories=(),
        readers={},
        policy=DEFAULT_POLICY,
        settings=settings,
        worker=worker,
    )


def test_run_once_fetches_every_due_subscription_exactly_once(
    uow_factory: SqlUnitOfWorkFactory, clock: ManualClock
) -> None:
    keys = [f"{8000 + i}" for i in range(30)]
    store(uow_factory, *(purchase(key) for key in keys))
    clock.set(at(31))
    source = FakeState({key: renewal(key, 2, at(30, hours=1)) for key in keys})
    results = tasks(uow_factory, clock, source).run_once()
    assert results["due"]["updated"] == 30
    assert sorted(source.calls) == keys
    # Nothing is due again until the renewed terms run out.
    again = tasks(uow_factory, clock, source).run_once()
    assert sum(again["due"].values()) == 0
    assert len(source.calls) == 30


def test_stopping_gives_back_the_leases_still_held(
    uow_factory: SqlUnitOfWorkFactory, clock: ManualClock
) -> None:
    keys = [f"{9000 + i}" for i in range(20)]
    store(uow_factory, *(purchase(key) for key in keys))
    clock.set(at(31))
    stopped = threading.Event()

    class StopsAfterFirstCall(FakeState):
        def current(self, subscription, token):
            stopped.set()  # SIGTERM arrives while the first store call is in flight
            return super().current(subscription, token)

    source = StopsAfterFirstCall()
    job = tasks(uow_factory, clock, source)
    job.stopping = stopped
    job.reconcile_due()
    assert 1 <= len(source.calls) < 20
    # Work not started was given back at once: another worker takes the rest now,
    # without waiting for leases to expire.
    other = tasks(uow_factory, clock, FakeState(), worker="other")
    remaining = other.reconcile_due()
    assert sum(remaining.values()) + len(source.calls) == 20
