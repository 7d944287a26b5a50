"""What the use cases need from the outside world, as small Protocols.

Persistence implements the repositories and the unit of work; `bootstrap.py` wires them.
Tests use the real SQL implementations on SQLite (fast enough) or fakes with the same shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from types import EllipsisType, TracebackType
from typing import Protocol, Self

from iap_engine.domain import Delivery, DeliveryStatus, Store, Subscription, TimelineEntry


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware UTC."""
        ...


class Subscriptions(Protocol):
    def get(self, subscription_id: str) -> Subscription | None: ...

    def get_many(self, subscription_ids: Sequence[str]) -> Sequence[Subscription]:
        """Those that exist, in one read; this unit of work then finds them by store key
        without reading again (reconciliation merges a group of them per transaction)."""
        ...

    def reuse(self, earlier: Sequence[Subscription]) -> list[str]:
        """Take subscriptions read by an earlier unit of work as read by this one where
        their version is unchanged; returns the ids of those that changed or are gone."""
        ...

    def by_store_key(self, store: Store, store_key: str) -> Subscription | None: ...

    def by_token(self, store: Store, token: str) -> Subscription | None: ...

    def by_transaction_id(self, transaction_id: str) -> Sequence[Subscription]: ...

    def for_user(self, app_user_id: str) -> Sequence[Subscription]: ...

    def add(
        self, subscription: Subscription, now: datetime, *, next_check_at: datetime | None = None
    ) -> Subscription:
        """Insert a new subscription; raises `ConcurrentUpdate` if its store key exists."""
        ...

    def save(
        self,
        subscription: Subscription,
        now: datetime,
        *,
        next_check_at: datetime | EllipsisType | None = ...,
    ) -> Subscription:
        """Write changes; raises `ConcurrentUpdate` unless the stored version is unchanged
        since this subscription was loaded. Returns it with its new version.

        `next_check_at` reschedules reconciliation (None: never); `...` leaves it as it is.
        """
        ...

    def add_token(
        self,
        store: Store,
        token: str,
        subscription_id: str,
        linked_token: str | None,
        now: datetime,
    ) -> None: ...

    def tokens(self, subscription_id: str) -> Sequence[str]: ...

    def current_token(self, subscription_id: str) -> str | None:
        """The newest token of a linked chain: the one no other token replaced."""
        ...

    def current_tokens(self, subscription_ids: Sequence[str]) -> dict[str, str]:
        """`current_token` of each (those with tokens), in one read; this unit of work then
        answers `current_token`, `by_token` and `add_token` for them without reading again."""
        ...


class Inbox(Protocol):
    def record(
        self, store: Store, delivery_id: str, body: bytes, received_at: datetime
    ) -> tuple[Delivery, bool]: ...

    def get(self, inbox_id: int, *, lock: bool = False) -> Delivery | None: ...

    def finish(
        self,
        inbox_id: int,
        status: DeliveryStatus,
        now: datetime,
        *,
        subscription_id: str | None = None,
        error: str | None = None,
    ) -> None: ...

    def retry_later(
        self, inbox_id: int, error: str, next_attempt_at: datetime | None, *, dead: bool = False
    ) -> None: ...

    def pending(
        self,
        statuses: Sequence[DeliveryStatus],
        *,
        due_at: datetime | None = None,
        after_id: int = 0,
        limit: int = 500,
    ) -> Sequence[Delivery]: ...

    def reopen(self, inbox_id: int) -> None: ...


class Checks(Protocol):
    """Reconciliation's work queue: subscriptions due a store fetch, claimed with leases.

    Claims are exclusive across workers (PostgreSQL: FOR UPDATE SKIP LOCKED) and expire, so a
    dead worker's share is picked up by the others once its leases lapse.
    """

    def claim_due(
        self, now: datetime, worker: str, lease_until: datetime, limit: int
    ) -> Sequence[str]: ...

    def finish_many(self, worker: str, scheduled: Sequence[tuple[str, datetime | None]]) -> None:
        """Record each (subscription id, next check) and release its lease, only where
        `worker` still holds it; in one call."""
        ...

    def release_all(self, worker: str) -> int:
        """Give back every lease `worker` holds (graceful shutdown)."""
        ...


class Cursors(Protocol):
    def get(self, name: str) -> str | None: ...

    def put(self, name: str, value: str, now: datetime) -> None: ...


class Timeline(Protocol):
    def append(self, entry: TimelineEntry) -> None: ...

    def for_subscription(self, subscription_id: str) -> Sequence[TimelineEntry]: ...


class Customers(Protocol):
    def ensure(self, app_user_id: str, now: datetime) -> None: ...

    def exists(self, app_user_id: str) -> bool: ...

    def delete(self, app_user_id: str) -> bool: ...


class AuditLog(Protocol):
    def record(
        self, at: datetime, actor: str, action: str, target: str | None, detail: str | None
    ) -> None: ...


class UnitOfWork(Protocol):
    """One database transaction: rolled back on leaving the block unless committed."""

    # Read-only members, so an implementation may hold more specific repositories.
    @property
    def subscriptions(self) -> Subscriptions: ...

    @property
    def inbox(self) -> Inbox: ...

    @property
    def timeline(self) -> Timeline: ...

    @property
    def customers(self) -> Customers: ...

    @property
    def checks(self) -> Checks: ...

    @property
    def cursors(self) -> Cursors: ...

    @property
    def audit(self) -> AuditLog: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def commit(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self, *, readonly: bool = False) -> UnitOfWork: ...
