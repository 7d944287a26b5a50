"""When to ask the store about a subscription again, whatever the webhooks did.

Webhooks get lost, so reconciliation fetches the store's state:

- when access is due to end (a renewal or a lapse is due), shortly after;
- while the store is still trying to charge (billing retry, account hold), paused, or pending,
  once a day;
- and, for every live subscription, at least once per rolling window, at an offset derived
  from its id so that re-checks spread evenly over the window instead of bunching up.

Finished subscriptions (expired, revoked) are not polled: late refunds reach them through the
stores' refund and notification histories.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from iap_engine.domain.subscription import Subscription
from iap_engine.domain.values import ACCESS_STATUSES, Status

# A renewal is charged at the end of the term; give the store a moment to record it.
AFTER_ACCESS_ENDS = timedelta(minutes=5)
# The store still reports a term that has ended: ask again later, not in a tight loop.
WHILE_OVERDUE = timedelta(hours=1)
WHILE_STORE_RETRIES = timedelta(days=1)
DEFAULT_WINDOW = timedelta(days=7)

_EPOCH = datetime(2020, 1, 1, tzinfo=UTC)
_POLLED_DAILY = frozenset({Status.BILLING_RETRY, Status.PAUSED, Status.PENDING})
_FINISHED = frozenset({Status.EXPIRED, Status.REVOKED})


def spread(subscription_id: str) -> float:
    """A stable fraction in [0, 1) for this subscription: its place in the window."""
    digest = hashlib.blake2b(subscription_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def next_check(
    subscription: Subscription, now: datetime, window: timedelta = DEFAULT_WINDOW
) -> datetime | None:
    """The next instant reconciliation should fetch this subscription; None: never again."""
    status = subscription.effective_status
    if status in _FINISHED:
        return None
    # The rolling re-check: the next slot of this subscription's phase in the window.
    phase = window * spread(subscription.id)
    cycles = (now - _EPOCH - phase) // window + 1
    rolling = _EPOCH + phase + window * cycles
    candidates = [rolling]
    if status in _POLLED_DAILY:
        candidates.append(now + WHILE_STORE_RETRIES)
    until = subscription.access_until
    if until is not None and status in ACCESS_STATUSES:
        due = until + AFTER_ACCESS_ENDS
        candidates.append(due if due > now else now + WHILE_OVERDUE)
    return min(candidates)
