"""The lifecycle transition table and `apply()`, the one way a store input changes a subscription.

`TRANSITIONS` says, for every (status, event kind) pair, whether the event is expected in
that status and which statuses the store may report after it. It is data: read it as the
lifecycle's specification; a test enumerates every pair.

`apply()` is pure and total:

1. Facts (periods, revocations) always merge, in any order (see `Subscription.merge_facts`).
2. A store report of the current state replaces the current fields only if it is newer than
   the one they came from (last writer wins on the store's own time).
3. The table judges the event: `Applied`, `Ignored` (stale, duplicate or informational), or
   `Anomaly` when the event does not fit the status we hold, which usually means we missed
   something. An anomaly still applies the store's (newer) report; the caller schedules a
   fetch of the authoritative state. Nothing here raises at a store.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from itertools import product

from iap_engine.domain.events import EventKind, Period, StoreEvent
from iap_engine.domain.subscription import Subscription
from iap_engine.domain.values import Status


class Verdict(StrEnum):
    APPLY = "apply"
    IGNORE = "ignore"
    ANOMALY = "anomaly"


@dataclass(frozen=True, slots=True)
class Rule:
    verdict: Verdict
    # Statuses the store may report after this event; a report outside them is an anomaly.
    leads_to: frozenset[Status]


@dataclass(frozen=True, slots=True)
class Applied:
    subscription: Subscription


@dataclass(frozen=True, slots=True)
class Ignored:
    subscription: Subscription
    reason: str


@dataclass(frozen=True, slots=True)
class Anomaly:
    subscription: Subscription
    reason: str


Outcome = Applied | Ignored | Anomaly

S = Status
K = EventKind
ALL = frozenset(Status)
KEEP = "keep"  # leads_to: the status the event was received in
_LIVE = (S.ACTIVE, S.GRACE_PERIOD, S.BILLING_RETRY, S.PAUSED)

# kind -> {status the event is expected in: statuses the store may report after it}.
# Statuses not listed make the event an anomaly, except for the informational kinds below.
_EXPECTED: dict[EventKind, dict[Status, frozenset[Status] | str]] = {
    K.PURCHASED: {
        s: frozenset({S.ACTIVE})
        for s in (S.PENDING, S.ACTIVE, S.GRACE_PERIOD, S.BILLING_RETRY, S.EXPIRED, S.REVOKED)
    },
    K.RENEWED: {s: frozenset({S.ACTIVE}) for s in (*_LIVE, S.REVOKED)},
    # Google also reports a paused subscription's resumption as a recovery.
    K.RECOVERED: {s: frozenset({S.ACTIVE}) for s in (S.GRACE_PERIOD, S.BILLING_RETRY, S.PAUSED)},
    K.RENEWAL_FAILED: {
        S.ACTIVE: frozenset({S.BILLING_RETRY, S.GRACE_PERIOD}),
        S.GRACE_PERIOD: frozenset({S.BILLING_RETRY, S.GRACE_PERIOD}),
        S.BILLING_RETRY: frozenset({S.BILLING_RETRY}),
    },
    K.GRACE_PERIOD_STARTED: {s: frozenset({S.GRACE_PERIOD}) for s in (S.ACTIVE, S.GRACE_PERIOD)},
    K.GRACE_PERIOD_EXPIRED: {
        s: frozenset({S.BILLING_RETRY, S.EXPIRED}) for s in (S.GRACE_PERIOD, S.BILLING_RETRY)
    },
    K.AUTO_RENEW_DISABLED: {s: KEEP for s in (*_LIVE, S.REVOKED)},
    K.AUTO_RENEW_ENABLED: {s: KEEP for s in (*_LIVE, S.REVOKED)},
    K.PRODUCT_CHANGED: {
        s: frozenset({S.ACTIVE}) for s in (S.ACTIVE, S.GRACE_PERIOD, S.BILLING_RETRY)
    },
    K.RENEWAL_PRODUCT_CHANGED: {s: KEEP for s in (*_LIVE, S.REVOKED)},
    K.EXPIRED: {s: frozenset({S.EXPIRED}) for s in (*_LIVE, S.EXPIRED, S.REVOKED)},
    K.REFUNDED: {s: frozenset({s, S.REVOKED, S.EXPIRED}) for s in (*_LIVE, S.EXPIRED, S.REVOKED)},
    K.REFUND_REVERSED: {
        **{s: KEEP for s in (*_LIVE, S.EXPIRED)},
        S.REVOKED: frozenset({S.REVOKED, *_LIVE, S.EXPIRED}),
    },
    K.REVOKED: {
        **{s: frozenset({S.REVOKED, S.EXPIRED}) for s in (*_LIVE, S.EXPIRED)},
        S.REVOKED: frozenset({S.REVOKED, S.EXPIRED}),
    },
    K.PAUSED: {s: frozenset({S.PAUSED}) for s in (S.ACTIVE, S.PAUSED)},
    K.PAUSE_SCHEDULED: {s: KEEP for s in _LIVE},
    K.RESUMED: {S.PAUSED: frozenset({S.ACTIVE, S.GRACE_PERIOD, S.BILLING_RETRY})},
    K.RENEWAL_EXTENDED: {
        s: frozenset({s, S.ACTIVE}) for s in (S.ACTIVE, S.GRACE_PERIOD, S.BILLING_RETRY)
    },
    K.PENDING: {s: frozenset({S.PENDING}) for s in (S.PENDING, S.EXPIRED)},
    K.PENDING_CANCELED: {S.PENDING: frozenset({S.EXPIRED}), S.EXPIRED: KEEP},
    K.REFRESHED: {s: ALL for s in Status},
}

# Informational kinds: they change nothing by themselves, in any status. A newer report they
# carry is still applied, and one that disagrees with the status we hold is an anomaly.
_INFORMATIONAL = frozenset(
    {K.PRICE_INCREASE, K.REFUND_DECLINED, K.CONSUMPTION_REQUESTED, K.TEST, K.UNKNOWN}
)


def _build_table() -> Mapping[tuple[Status, EventKind], Rule]:
    table: dict[tuple[Status, EventKind], Rule] = {}
    for status, kind in product(Status, EventKind):
        if kind in _INFORMATIONAL:
            table[status, kind] = Rule(Verdict.IGNORE, frozenset({status}))
            continue
        leads_to = _EXPECTED[kind].get(status)
        if leads_to is None:
            table[status, kind] = Rule(Verdict.ANOMALY, ALL)
        elif leads_to == KEEP:
            table[status, kind] = Rule(Verdict.APPLY, frozenset({status}))
        else:
            assert isinstance(leads_to, frozenset)
            table[status, kind] = Rule(Verdict.APPLY, leads_to)
    return table


TRANSITIONS: Mapping[tuple[Status, EventKind], Rule] = _build_table()


def apply(subscription: Subscription, event: StoreEvent) -> Outcome:
    merged = subscription.merge_facts(_with_grace(event), event.revocations)
    facts_changed = (
        merged.periods != subscription.periods or merged.revocations != subscription.revocations
    )
    rule = TRANSITIONS[subscription.status, event.kind]
    state = event.state

    if state is not None and merged.is_newer(state, event.store_time):
        updated = merged.with_state(state, event.store_time)
        if subscription.last_store_time is None:
            # The first report we hold: there is nothing for it to contradict.
            return Applied(updated)
        if rule.verdict is Verdict.ANOMALY:
            return Anomaly(updated, f"{event.kind} is unexpected while {subscription.status}")
        if state.status not in rule.leads_to:
            expected = ", ".join(sorted(rule.leads_to))
            return Anomaly(
                updated,
                f"store reports {state.status} after {event.kind} from {subscription.status};"
                f" expected {expected}",
            )
        if rule.verdict is Verdict.IGNORE and updated.state == subscription.state:
            return Ignored(updated, f"{event.kind} is informational")
        return Applied(updated)

    if state is not None:
        reason = (
            "duplicate of the current state"
            if event.store_time == subscription.last_store_time
            else "older than the current state"
        )
    elif rule.verdict is Verdict.ANOMALY:
        return Anomaly(merged, f"{event.kind} is unexpected while {subscription.status}")
    else:
        reason = f"{event.kind} carries no state"
    if facts_changed:
        return Applied(merged)
    return Ignored(merged, reason)


# After these statuses a grace end in the report describes a grace the store granted; in the
# others it is a leftover of an earlier failure and must not extend the current term.
_GRACE_REPORTED_IN = frozenset({S.GRACE_PERIOD, S.BILLING_RETRY, S.EXPIRED})


def _with_grace(event: StoreEvent) -> tuple[Period, ...]:
    """Record a reported grace period as a fact of the term whose renewal failed.

    Derived from the event alone (its report and its own periods), so the fact merges like
    any other, whatever order events arrive in.
    """
    state = event.state
    if (
        state is None
        or state.status not in _GRACE_REPORTED_IN
        or state.grace_expires_at is None
        or state.expires_at is None
        or state.grace_expires_at <= state.expires_at
    ):
        return event.periods
    grace_end = state.grace_expires_at
    return tuple(
        replace(p, grace_ends_at=grace_end)
        if p.ends_at == state.expires_at
        and (p.grace_ends_at is None or p.grace_ends_at < grace_end)
        else p
        for p in event.periods
    )
