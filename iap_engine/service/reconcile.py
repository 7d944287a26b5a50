"""Use cases of reconciliation (DESIGN.md section 9): the stores' APIs are the truth.

- `claim_due` + `check_subscription`: fetch the current state of subscriptions that are due
  (a renewal or lapse is due, the store is retrying a charge, an anomaly was seen, or the
  rolling re-check comes round) and merge it like any other store input.
- `follow_history`: read a store-wide feed from a stored cursor (Apple notification history,
  Google voided purchases), so notifications that never arrived are ingested exactly as if
  they had been delivered.
- `retry_deliveries`: finish inbox deliveries that a crash or a store outage left behind.

None of this looks at app accounts: a subscription whose account was deleted is reconciled
like any other. No transaction is open while a store is being asked.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import partial

from iap_engine.domain import (
    Anomaly,
    Catalog,
    DeliveryStatus,
    Source,
    Store,
    StoreRecord,
    Subscription,
    TimelineEntry,
)
from iap_engine.service.deliveries import (
    NotificationReader,
    Result,
    process,
    receive,
    run_follow_ups,
)
from iap_engine.service.errors import StoreRejected, StoreUnavailable
from iap_engine.service.policy import DEFAULT_POLICY, Policy
from iap_engine.service.ports import Clock, UnitOfWork, UnitOfWorkFactory
from iap_engine.service.recording import record_input
from iap_engine.service.retry import retrying
from iap_engine.service.schedule import scheduled
from iap_engine.service.stores import HistorySource, StateSource

log = logging.getLogger("iap_engine.reconcile")

# When the store cannot answer, the subscription is asked again after this long.
AFTER_STORE_FAILURE = timedelta(minutes=10)
# A first run reads this far back (both stores keep at least 30 days of history).
FIRST_LOOKBACK = timedelta(days=30)
# Each run re-reads this much before its cursor: stores index late, clocks differ.
CURSOR_OVERLAP = timedelta(minutes=10)
# A delivery still `received` this long after arriving was left behind by a crash.
SETTLE = timedelta(minutes=1)


class Check(StrEnum):
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    UNAVAILABLE = "unavailable"
    GONE = "gone"
    MISSING = "missing"
    UNSERVED = "unserved"


@dataclass(frozen=True, slots=True)
class Checked:
    subscription_id: str
    result: Check
    anomalies: int = 0


def claim_due(
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    *,
    worker: str,
    limit: int,
    lease: timedelta,
) -> list[str]:
    now = clock.now()
    with uow_factory() as uow:
        claimed = list(uow.checks.claim_due(now, worker, now + lease, limit))
        uow.commit()
    return claimed


def release_leases(uow_factory: UnitOfWorkFactory, *, worker: str) -> int:
    with uow_factory() as uow:
        released = uow.checks.release_all(worker)
        uow.commit()
    return released


def check_subscription(
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    catalog: Catalog,
    sources: Mapping[Store, StateSource],
    subscription_id: str,
    *,
    worker: str,
    policy: Policy = DEFAULT_POLICY,
) -> Checked:
    """Fetch one claimed subscription's state from its store and merge it."""
    with uow_factory(readonly=True) as uow:
        subscription = uow.subscriptions.get(subscription_id)
        token = (
            uow.subscriptions.current_token(subscription_id)
            if subscription is not None and subscription.store is Store.PLAY_STORE
            else None
        )
    if subscription is None:
        return Checked(subscription_id, Check.MISSING)
    source = sources.get(subscription.store)
    if source is None:
        _finish(uow_factory, subscription_id, worker, clock.now() + policy.recheck_window)
        return Checked(subscription_id, Check.UNSERVED)
    try:
        read = source.current(subscription, token)
    except StoreUnavailable as error:
        log.warning(
            "store unavailable for %s: %s",
            subscription_id,
            error.message,
            extra={"store": subscription.store.value, "subscription": subscription_id},
        )
        _finish(uow_factory, subscription_id, worker, clock.now() + AFTER_STORE_FAILURE)
        return Checked(subscription_id, Check.UNAVAILABLE)
    except StoreRejected as error:
        _gone(uow_factory, clock, subscription, worker, error)
        return Checked(subscription_id, Check.GONE)

    def merge() -> Checked:
        now = clock.now()
        with uow_factory() as uow:
            recorded = [
                record_input(uow, catalog, record, now=now, source=Source.RECONCILE, policy=policy)
                for record in read.records
            ]
            # What was just saved, without reading it back.
            current = next(
                (
                    r.subscription
                    for r in reversed(recorded)
                    if r.subscription.id == subscription_id
                ),
                subscription,
            )
            uow.checks.finish(subscription_id, worker, scheduled(current, catalog, now, policy))
            uow.commit()
        return Checked(
            subscription_id,
            Check.UNCHANGED if current.version == subscription.version else Check.UPDATED,
            sum(isinstance(r.outcome, Anomaly) for r in recorded),
        )

    checked = retrying(merge)
    run_follow_ups(read.follow_ups)
    return checked


@dataclass(frozen=True, slots=True)
class HistoryRun:
    deliveries: int
    records: int
    complete: bool


def follow_history(
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    catalog: Catalog,
    source: HistorySource,
    reader: NotificationReader | None,
    *,
    policy: Policy = DEFAULT_POLICY,
) -> HistoryRun:
    """Read a store feed from its cursor up to now; move the cursor only when complete."""
    end = clock.now()
    with uow_factory(readonly=True) as uow:
        stored = uow.cursors.get(source.cursor_name)
    start = (datetime.fromisoformat(stored) if stored else end - FIRST_LOOKBACK) - CURSOR_OVERLAP
    deliveries = records = 0
    token: str | None = None
    try:
        while True:
            page = source.page(start, end, token)
            for body in page.deliveries:
                if reader is not None:
                    receive(
                        uow_factory,
                        clock,
                        catalog,
                        reader,
                        body,
                        source=Source.RECONCILE,
                        policy=policy,
                    )
                    deliveries += 1
            for record in page.records:
                retrying(partial(_record_one, uow_factory, clock, catalog, record, policy))
                records += 1
            token = page.next_token
            if token is None:
                break
    except StoreUnavailable as error:
        log.warning("%s unavailable: %s", source.cursor_name, error.message)
        return HistoryRun(deliveries, records, complete=False)
    with uow_factory() as uow:
        uow.cursors.put(source.cursor_name, end.isoformat(), clock.now())
        uow.commit()
    return HistoryRun(deliveries, records, complete=True)


@dataclass(frozen=True, slots=True)
class InboxRun:
    processed: int
    deferred: int
    rejected: int


def retry_deliveries(
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    catalog: Catalog,
    readers: Mapping[Store, NotificationReader],
    *,
    limit: int = 500,
    policy: Policy = DEFAULT_POLICY,
) -> InboxRun:
    """Deliveries a crash left `received`, and failed ones whose retry time has come."""
    now = clock.now()
    with uow_factory(readonly=True) as uow:
        due = uow.inbox.pending(
            [DeliveryStatus.RECEIVED, DeliveryStatus.FAILED], due_at=now, limit=limit
        )
    counts = {Result.PROCESSED: 0, Result.DEFERRED: 0, Result.REJECTED: 0}
    for delivery in due:
        if delivery.status is DeliveryStatus.RECEIVED and delivery.received_at > now - SETTLE:
            continue  # probably still being processed by the request that received it
        reader = readers.get(delivery.store)
        if reader is None:
            continue
        result = process(uow_factory, clock, catalog, reader, delivery, policy=policy)
        if result.result in counts:
            counts[result.result] += 1
    return InboxRun(counts[Result.PROCESSED], counts[Result.DEFERRED], counts[Result.REJECTED])


def _record_one(
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    catalog: Catalog,
    record: StoreRecord,
    policy: Policy,
) -> None:
    with uow_factory() as uow:
        record_input(uow, catalog, record, now=clock.now(), source=Source.RECONCILE, policy=policy)
        uow.commit()


def _finish(
    uow_factory: UnitOfWorkFactory, subscription_id: str, worker: str, at: datetime | None
) -> None:
    with uow_factory() as uow:
        uow.checks.finish(subscription_id, worker, at)
        uow.commit()


def _gone(
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    subscription: Subscription,
    worker: str,
    error: StoreRejected,
) -> None:
    """The store no longer knows the purchase (e.g. Google forgets tokens long expired)."""
    now = clock.now()
    with uow_factory() as uow:
        _note(uow, subscription, now, f"the store no longer knows this purchase ({error.reason})")
        uow.checks.finish(subscription.id, worker, None)
        uow.commit()


def _note(uow: UnitOfWork, subscription: Subscription, now: datetime, note: str) -> None:
    uow.timeline.append(
        TimelineEntry(
            subscription_id=subscription.id,
            kind="refreshed",
            outcome="ignored",
            store_time=None,
            received_at=now,
            source=Source.RECONCILE,
            note=note,
        )
    )
