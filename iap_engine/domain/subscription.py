"""The subscription aggregate: current fields, dated facts, and what follows from them.

Two kinds of data live here and merge differently (DESIGN.md section 3):

- Facts (periods and revocations) merge by identity, whatever order they arrive in. Each
  version carries the store time it was reported at (`as_of`); the newest version of a fact
  wins, and grace granted after a period is never taken back.
- Current fields (status, auto_renew, expires_at, ...) are the store's latest report, replaced
  only by a newer one (`last_store_time`).

Everything derived (when a period was replaced, whether it is revoked, which status a reader
sees) is computed from those, so it does not depend on arrival order either.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from iap_engine.domain.events import Period, Revocation, StoreState
from iap_engine.domain.values import (
    ACCESS_STATUSES,
    Environment,
    ExpirationReason,
    Status,
    Store,
)

_STATUS_ORDER = {status: index for index, status in enumerate(Status)}


@dataclass(frozen=True, slots=True, kw_only=True)
class Subscription:
    id: str
    store: Store
    environment: Environment
    # Apple originalTransactionId; Google: the first purchase token of a linked chain.
    store_key: str
    product_id: str
    status: Status = Status.PENDING
    auto_renew: bool = False
    expires_at: datetime | None = None
    grace_expires_at: datetime | None = None
    renewal_product_id: str | None = None
    expiration_reason: ExpirationReason | None = None
    # Store time of the report the current fields come from; None until the first one.
    last_store_time: datetime | None = None
    app_user_id: str | None = None
    account_deleted: bool = False
    periods: tuple[Period, ...] = ()
    revocations: tuple[Revocation, ...] = ()
    # Optimistic concurrency: persistence refuses to save over a newer version.
    version: int = 0

    # -- current fields -------------------------------------------------------------------

    @property
    def state(self) -> StoreState | None:
        if self.last_store_time is None:
            return None
        return StoreState(
            status=self.status,
            product_id=self.product_id,
            auto_renew=self.auto_renew,
            expires_at=self.expires_at,
            grace_expires_at=self.grace_expires_at,
            renewal_product_id=self.renewal_product_id,
            expiration_reason=self.expiration_reason,
        )

    def is_newer(self, state: StoreState, store_time: datetime) -> bool:
        """Whether a report at `store_time` replaces the current fields.

        Equal store times are settled by comparing the reports themselves, so the result
        never depends on which of two simultaneous reports arrived first.
        """
        if self.last_store_time is None or store_time > self.last_store_time:
            return True
        if store_time < self.last_store_time:
            return False
        current = self.state
        return current is not None and state_rank(state) > state_rank(current)

    def with_state(self, state: StoreState, store_time: datetime) -> Subscription:
        return replace(
            self,
            status=state.status,
            product_id=state.product_id,
            auto_renew=state.auto_renew,
            expires_at=state.expires_at,
            grace_expires_at=state.grace_expires_at,
            renewal_product_id=state.renewal_product_id,
            expiration_reason=state.expiration_reason,
            last_store_time=store_time,
        )

    @property
    def access_until(self) -> datetime | None:
        """The end of access the current fields allow: grace end in grace, else expires_at."""
        if self.status is Status.GRACE_PERIOD and self.grace_expires_at is not None:
            return self.grace_expires_at
        return self.expires_at

    @property
    def effective_status(self) -> Status:
        """The status a reader sees: a refunded current period reads as `revoked`.

        The stored status stays the store's own report (a Google refund without revocation
        leaves the subscription ACTIVE at Google), so a later reversal needs no undo.
        """
        current = self.current_period
        if self.status in ACCESS_STATUSES and current is not None and self.is_revoked(current):
            return Status.REVOKED
        return self.status

    # -- facts ----------------------------------------------------------------------------

    def merge_facts(
        self, periods: Iterable[Period] = (), revocations: Iterable[Revocation] = ()
    ) -> Subscription:
        merged_periods = {p.transaction_id: p for p in self.periods}
        for period in periods:
            known = merged_periods.get(period.transaction_id)
            merged_periods[period.transaction_id] = (
                period if known is None else merge_period(known, period)
            )
        merged_revocations = {r.transaction_id: r for r in self.revocations}
        for revocation in revocations:
            known_r = merged_revocations.get(revocation.transaction_id)
            if known_r is None or revocation_rank(revocation) > revocation_rank(known_r):
                merged_revocations[revocation.transaction_id] = revocation
        return replace(
            self,
            periods=tuple(
                sorted(merged_periods.values(), key=lambda p: (p.starts_at, p.transaction_id))
            ),
            revocations=tuple(sorted(merged_revocations.values(), key=lambda r: r.transaction_id)),
        )

    def period(self, transaction_id: str) -> Period | None:
        for period in self.periods:
            if period.transaction_id == transaction_id:
                return period
        return None

    def revocation_of(self, transaction_id: str) -> Revocation | None:
        """The standing revocation of a period, or None (never revoked, or reversed)."""
        for revocation in self.revocations:
            if revocation.transaction_id == transaction_id:
                return revocation if revocation.revoked_at is not None else None
        return None

    def is_revoked(self, period: Period) -> bool:
        return self.revocation_of(period.transaction_id) is not None

    def replaced_at(self, period: Period) -> datetime | None:
        """When an immediate product change cut this period short, if one did."""
        cut: datetime | None = None
        for other in self.periods:
            if (
                other.replaces_prior
                and other.transaction_id != period.transaction_id
                and period.starts_at < other.starts_at
                and (period.ends_at is None or other.starts_at < period.ends_at)
                and (cut is None or other.starts_at < cut)
            ):
                cut = other.starts_at
        return cut

    @property
    def current_period(self) -> Period | None:
        """The latest term: the one the current fields describe."""
        return self.periods[-1] if self.periods else None

    def access_span(self, period: Period) -> tuple[datetime, datetime | None] | None:
        """The instants this period grants access over, from facts alone; None if none.

        A revoked period grants nothing, at any instant. A replaced period ends at its
        replacement. Grace extends a period to its grace end, but never into the next period
        (which grants or, when refunded, withholds access on its own).
        """
        if self.is_revoked(period):
            return None
        replaced = self.replaced_at(period)
        if replaced is not None:
            return period.starts_at, replaced
        end = period.ends_at
        if end is not None and period.grace_ends_at is not None and period.grace_ends_at > end:
            following = [p.starts_at for p in self.periods if p.starts_at >= end and p != period]
            end = min([period.grace_ends_at, *following])
        return period.starts_at, end


def merge_period(known: Period, incoming: Period) -> Period:
    """The newer report of a period wins; grace and replacement never regress."""
    newer, older = (
        (incoming, known) if period_rank(incoming) > period_rank(known) else (known, incoming)
    )
    grace = max(
        (g for g in (newer.grace_ends_at, older.grace_ends_at) if g is not None), default=None
    )
    return replace(
        newer,
        grace_ends_at=grace,
        replaces_prior=newer.replaces_prior or older.replaces_prior,
    )


def _time_rank(value: datetime | None) -> tuple[bool, datetime | None]:
    # (False, None) sorts below every (True, value) without comparing None to a datetime.
    return (value is not None, value)


def period_rank(period: Period) -> tuple[object, ...]:
    return (
        period.as_of,
        _time_rank(period.ends_at),
        period.starts_at,
        period.product_id,
        period.offer,
        period.price_micros if period.price_micros is not None else -1,
        period.currency or "",
    )


def revocation_rank(revocation: Revocation) -> tuple[object, ...]:
    return (
        revocation.as_of,
        _time_rank(revocation.revoked_at),
        revocation.reason or "",
    )


def state_rank(state: StoreState) -> tuple[object, ...]:
    return (
        _STATUS_ORDER[state.status],
        _time_rank(state.expires_at),
        _time_rank(state.grace_expires_at),
        state.auto_renew,
        state.product_id,
        state.renewal_product_id or "",
        state.expiration_reason or "",
    )
