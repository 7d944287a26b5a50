"""Use case: a store delivery (webhook, or one kept in the inbox) becomes subscription state.

1. The raw body is stored in the inbox and committed first, so nothing a store sent is ever
   lost, even if the process dies right after.
2. It is verified and normalized, and the store is asked for the truth where the delivery is
   thin (a Google notification carries only a token). No transaction is open meanwhile.
3. The records are merged and the inbox row is marked, in one transaction.

A crash between 1 and 3 leaves the row `received`; `replay` and the inbox job finish it. A
store that is down leaves it `failed` with a time for the next attempt.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Protocol

from iap_engine.domain import (
    Anomaly,
    Catalog,
    Delivery,
    DeliveryStatus,
    Source,
    Store,
    StoreRecord,
)
from iap_engine.service.errors import DeliveryRejected, StoreUnavailable
from iap_engine.service.policy import DEFAULT_POLICY, Policy
from iap_engine.service.ports import Clock, UnitOfWorkFactory
from iap_engine.service.recording import record_input
from iap_engine.service.retry import retrying

log = logging.getLogger("iap_engine.delivery")

# Inbox retries: exponential from 30 s, capped at 6 h; dead after this many attempts.
FIRST_RETRY = timedelta(seconds=30)
LONGEST_RETRY = timedelta(hours=6)
ATTEMPTS_BEFORE_DEAD = 12


@dataclass(frozen=True, slots=True)
class ReadDelivery:
    """A verified, normalized delivery."""

    records: tuple[StoreRecord, ...]
    store_type: str | None = None
    store_subtype: str | None = None
    # Store calls to make once the state is committed (e.g. Google acknowledgements).
    follow_ups: tuple[Callable[[], None], ...] = field(default=())


class NotificationReader(Protocol):
    """One store's notifications, as the store adapter reads them."""

    @property
    def store(self) -> Store: ...

    def delivery_id(self, body: bytes) -> str | None:
        """The store's id for the delivery, read without verification (None if absent)."""
        ...

    def read(self, body: bytes) -> ReadDelivery:
        """Verify, normalize, fetch the truth if needed. Raises DeliveryRejected or
        StoreUnavailable."""
        ...


class Result(StrEnum):
    PROCESSED = "processed"
    IGNORED = "ignored"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"
    DEFERRED = "deferred"  # stored; the store or the engine failed, retried later


@dataclass(frozen=True, slots=True)
class Ingested:
    result: Result
    delivery: Delivery
    rejection: DeliveryRejected | None = None
    subscription_ids: tuple[str, ...] = ()
    store_type: str | None = None
    anomalies: int = 0


def digest_id(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def receive(
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    catalog: Catalog,
    reader: NotificationReader,
    body: bytes,
    *,
    source: Source = Source.WEBHOOK,
    policy: Policy = DEFAULT_POLICY,
) -> Ingested:
    started = time.perf_counter()
    delivery = _store_raw(uow_factory, clock, reader, body)
    if delivery.finished:
        result = Ingested(Result.DUPLICATE, delivery)
        if delivery.status is DeliveryStatus.REJECTED:
            # Answer a repeated forgery as the first one was answered.
            result = _rejected_again(delivery, reader)
    else:
        result = process(
            uow_factory,
            clock,
            catalog,
            reader,
            delivery,
            source=source,
            policy=policy,
        )
    _log(result, reader.store, started)
    return result


def process(
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    catalog: Catalog,
    reader: NotificationReader,
    delivery: Delivery,
    *,
    source: Source = Source.WEBHOOK,
    policy: Policy = DEFAULT_POLICY,
) -> Ingested:
    """Finish a stored delivery: used by webhooks, `replay` and the inbox job."""
    try:
        read = reader.read(delivery.body)
    except DeliveryRejected as rejection:
        _finish(uow_factory, clock, delivery, DeliveryStatus.REJECTED, error=_why(rejection))
        return Ingested(Result.REJECTED, delivery, rejection)
    except StoreUnavailable as unavailable:
        _defer(uow_factory, clock, delivery, f"store unavailable: {unavailable.message}")
        return Ingested(Result.DEFERRED, delivery)

    def merge() -> Ingested:
        now = clock.now()
        with uow_factory() as uow:
            current = uow.inbox.get(delivery.id, lock=True)
            if current is None or current.finished:
                return Ingested(Result.DUPLICATE, current or delivery)
            recorded = [
                record_input(
                    uow,
                    catalog,
                    record,
                    now=now,
                    source=source,
                    inbox_id=delivery.id,
                    policy=policy,
                )
                for record in read.records
            ]
            ids = tuple(dict.fromkeys(r.subscription.id for r in recorded))
            status = DeliveryStatus.PROCESSED if recorded else DeliveryStatus.IGNORED
            uow.inbox.finish(delivery.id, status, now, subscription_id=ids[0] if ids else None)
            uow.commit()
        return Ingested(
            Result.PROCESSED if recorded else Result.IGNORED,
            delivery,
            subscription_ids=ids,
            store_type=read.store_type,
            anomalies=sum(isinstance(r.outcome, Anomaly) for r in recorded),
        )

    try:
        ingested = retrying(merge)
    except Exception as error:  # a bug must not lose the delivery: it is retried
        log.exception("delivery %s could not be merged", delivery.id)
        _defer(uow_factory, clock, delivery, f"merge failed: {type(error).__name__}: {error}")
        return Ingested(Result.DEFERRED, delivery)
    if ingested.result is not Result.DUPLICATE:
        run_follow_ups(read.follow_ups)
    return ingested


def _store_raw(
    uow_factory: UnitOfWorkFactory, clock: Clock, reader: NotificationReader, body: bytes
) -> Delivery:
    delivery_id = reader.delivery_id(body) or digest_id(body)
    with uow_factory() as uow:
        delivery, _created = uow.inbox.record(reader.store, delivery_id, body, clock.now())
        if delivery.status is DeliveryStatus.REJECTED and delivery.body != body:
            # An id can be claimed by a forgery first (it is read before verification); the
            # genuine delivery must not be shut out by it, so it is kept under its own digest.
            delivery, _created = uow.inbox.record(
                reader.store, f"{delivery_id}#{digest_id(body)}", body, clock.now()
            )
        uow.commit()
    return delivery


def _rejected_again(delivery: Delivery, reader: NotificationReader) -> Ingested:
    try:
        reader.read(delivery.body)
    except DeliveryRejected as rejection:
        return Ingested(Result.REJECTED, delivery, rejection)
    except StoreUnavailable:
        pass
    return Ingested(Result.DUPLICATE, delivery)


def _finish(
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    delivery: Delivery,
    status: DeliveryStatus,
    *,
    error: str | None = None,
) -> None:
    with uow_factory() as uow:
        uow.inbox.finish(delivery.id, status, clock.now(), error=error)
        uow.commit()


def _defer(uow_factory: UnitOfWorkFactory, clock: Clock, delivery: Delivery, error: str) -> None:
    with uow_factory() as uow:
        current = uow.inbox.get(delivery.id, lock=True)
        if current is None or current.finished:
            return
        attempts = current.attempts + 1
        dead = attempts >= ATTEMPTS_BEFORE_DEAD
        delay = min(FIRST_RETRY * 2 ** (attempts - 1), LONGEST_RETRY)
        uow.inbox.retry_later(delivery.id, error, None if dead else clock.now() + delay, dead=dead)
        uow.commit()


def run_follow_ups(calls: Sequence[Callable[[], None]]) -> None:
    for call in calls:
        try:
            call()
        except Exception:  # reconciliation retries what did not happen here
            log.warning("a follow-up store call failed; reconciliation will retry it")


def _why(rejection: DeliveryRejected) -> str:
    return f"{rejection.reason}: {rejection.message}"


def _log(result: Ingested, store: Store, started: float) -> None:
    log.info(
        "delivery",
        extra={
            "store": store.value,
            "delivery": result.delivery.id,
            "type": result.store_type,
            "outcome": result.result.value,
            "reason": result.rejection.reason if result.rejection else None,
            "anomalies": result.anomalies,
            "latency_ms": round((time.perf_counter() - started) * 1000, 2),
        },
    )
