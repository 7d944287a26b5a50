"""Use cases of reconciliation (DESIGN.md section 9): the stores' APIs are the truth.

- `claim_and_load`, `fetch`, `merge`: fetch the current state of subscriptions that are due
  (a renewal or lapse is due, the store is retrying a charge, an anomaly was seen, or the
  rolling re-check comes round) and merge it like any other store input, a group per
  transaction.
- `follow_history`: read a store-wide feed from a stored cursor (Apple notification history,
  Google voided purchases), so notifications that never arrived are ingested exactly as if
  they had been delivered.
- `retry_deliveries`: finish inbox deliveries that a crash or a store outage left behind.

None of this looks at app accounts: a subscription whose account was deleted is reconciled
like any other. No transaction is open while a store is being asked.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
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
    ReadDelivery,
    Result,
    process,
    receive,
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
    UNSERVED = "unserved"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Checked:
    subscription_id: str
    result: Check
    anomalies: int = 0

    @property
    def merged(self) -> bool:
        """Whether the store's answer was merged (its follow-up calls may be made)."""
        return self.result in (Check.UPDATED, Check.UNCHANGED)


@dataclass(frozen=True, slots=True)
class Due:
    """A claimed subscription as loaded before its store is asked."""

    subscription: Subscription
    # The newest purchase token of a Google chain.
    token: str | None = None


@dataclass(frozen=True, slots=True)
class Fetched:
    """What the store said about a due subscription; no transaction was open meanwhile."""

    due: Due
    # The store's answer, to merge; None when there is none (see `failure`).
    read: ReadDelivery | None = None
    # UNAVAILABLE, GONE or UNSERVED when there is no answer; `reason`: why it is gone.
    failure: Check | None = None
    reason: str = ""


def claim_and_load(
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    *,
    worker: str,
    limit: int,
    lease: timedelta,
) -> list[Due]:
    """`claim_due`, and the claimed subscriptions loaded for their store calls, in one
    transaction (a few statements per batch instead of a read per subscription)."""
    now = clock.now()
    with uow_factory() as uow:
        claimed = uow.checks.claim_due(now, worker, now + lease, limit)
        due = _load(uow, claimed)
        uow.commit()
    return due


def release_leases(uow_factory: UnitOfWorkFactory, *, worker: str) -> int:
    with uow_factory() as uow:
        released = uow.checks.release_all(worker)
        uow.commit()
    return released


def fetch(sources: Mapping[Store, StateSource], due: Due) -> Fetched:
    """Ask the subscription's store for its state now (no transaction is open here)."""
    subscription = due.subscription
    source = sources.get(subscription.store)
    if source is None:
        return Fetched(due, failure=Check.UNSERVED)
    try:
        return Fetched(due, read=source.current(subscription, due.token))
    except StoreUnavailable as error:
        log.warning(
            "store unavailable for %s: %s",
            subscription.id,
            error.message,
            extra={"store": subscription.store.value, "subscription": subscription.id},
        )
        return Fetched(due, failure=Check.UNAVAILABLE)
    except StoreRejected as error:
        return Fetched(due, failure=Check.GONE, reason=error.reason)


def merge(
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    catalog: Catalog,
    fetched: Sequence[Fetched],
    *,
    worker: str,
    policy: Policy = DEFAULT_POLICY,
) -> list[Checked]:
    """Merge what the stores said and release the leases; results in the order given.

    One transaction for the whole group. If anything in it fails (most often another writer,
    a webhook, changed one of them meanwhile: the version check refuses the save), nothing
    of it was written, and each is merged again in a transaction of its own, retried on
    such races like any input: one subscription's failure loses no other's. A subscription
    whose merge still fails is `FAILED`; its lease expires and a later run fetches it again.
    """
    # Rows are locked in one order by every group, so two groups never deadlock.
    ordered = sorted(fetched, key=lambda item: item.due.subscription.id)
    if len(ordered) > 1:
        try:
            together = _merge_together(uow_factory, clock, catalog, ordered, worker, policy)
        except Exception as error:
            log.info("merging %d together failed (%s); one at a time", len(ordered), error)
        else:
            return _in_order(fetched, together)
    alone = []
    for item in ordered:
        subscription_id = item.due.subscription.id
        try:
            (checked,) = retrying(
                partial(_merge_together, uow_factory, clock, catalog, [item], worker, policy)
            )
        except Exception:
            log.exception("reconciling %s failed; its lease will expire", subscription_id)
            checked = Checked(subscription_id, Check.FAILED)
        alone.append(checked)
    return _in_order(fetched, alone)


def _in_order(fetched: Sequence[Fetched], checked: Sequence[Checked]) -> list[Checked]:
    by_id = {c.subscription_id: c for c in checked}
    return [by_id[item.due.subscription.id] for item in fetched]


def _load(uow: UnitOfWork, subscription_ids: Sequence[str]) -> list[Due]:
    loaded = uow.subscriptions.get_many(subscription_ids)
    tokens = uow.subscriptions.current_tokens([s.id for s in loaded if s.store is Store.PLAY_STORE])
    return [Due(subscription, tokens.get(subscription.id)) for subscription in loaded]


def _merge_together(
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    catalog: Catalog,
    fetched: Sequence[Fetched],
    worker: str,
    policy: Policy,
) -> list[Checked]:
    now = clock.now()
    with uow_factory() as uow:
        # What recording looks up, read once for the group: the subscriptions as claimed
        # where nothing changed them since (else fresh), their tokens fresh.
        answered = [item.due.subscription for item in fetched if item.read is not None]
        uow.subscriptions.get_many(uow.subscriptions.reuse(answered))
        uow.subscriptions.current_tokens([s.id for s in answered if s.store is Store.PLAY_STORE])
        results = [_merge_one(uow, catalog, item, now, policy) for item in fetched]
        uow.checks.finish_many(worker, [(c.subscription_id, at) for c, at in results])
        uow.commit()
    return [checked for checked, _ in results]


def _merge_one(
    uow: UnitOfWork, catalog: Catalog, item: Fetched, now: datetime, policy: Policy
) -> tuple[Checked, datetime | None]:
    """One subscription's part of a merge: its records, and when to check it next."""
    subscription = item.due.subscription
    if item.read is None:
        if item.failure is Check.UNAVAILABLE:
            return Checked(subscription.id, Check.UNAVAILABLE), now + AFTER_STORE_FAILURE
        if item.failure is Check.GONE:
            # The store no longer knows the purchase (e.g. Google forgets tokens long expired).
            note = f"the store no longer knows this purchase ({item.reason})"
            _note(uow, subscription, now, note)
            return Checked(subscription.id, Check.GONE), None
        return Checked(subscription.id, Check.UNSERVED), now + policy.recheck_window
    recorded = [
        record_input(uow, catalog, record, now=now, source=Source.RECONCILE, policy=policy)
        for record in item.read.records
    ]
    # What was just saved, without reading it back.
    current = next(
        (r.subscription for r in reversed(recorded) if r.subscription.id == subscription.id),
        subscription,
    )
    checked = Checked(
        subscription.id,
        Check.UNCHANGED if current.version == subscription.version else Check.UPDATED,
        sum(isinstance(r.outcome, Anomaly) for r in recorded),
    )
    return checked, scheduled(current, catalog, now, policy)


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
