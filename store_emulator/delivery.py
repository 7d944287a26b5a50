"""Delivering the stores' notifications to the configured URLs, with the stores' retries.

Each emitted `Message` becomes one `Delivery` per copy (a duplicated one has two), attempted by
HTTP POST when the virtual clock reaches its time. A failure (an answer outside the store's
success codes, a refused connection, a timeout) is retried on the store's schedule, in
virtual time:

- App Store Server Notifications V2: five retries, at 1, 12, 24, 48 and 72 hours after the
  previous attempt; success is HTTP 200-206. Apple retries in Production only: in the
  sandbox it sends once (Apple's "Responding to App Store Server Notifications").
- Pub/Sub push: exponential backoff from 10 s, doubling, at most 600 s apart (the push
  subscription's default retry policy), until the message is older than the default
  retention of 7 days; success is 102, 200, 201, 202 or 204.

`deliver_due(now)` makes every attempt that is due, synchronously, and returns them: a caller
knows what was sent and what the receiver answered when it returns. Nothing sleeps.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

import requests

from store_emulator.message import STORES, Message, StoreName, iso
from store_emulator.policy import DeliveryPolicy, Rule

DeliveryState = Literal["pending", "held", "delivered", "failed", "dropped", "unsent"]

APPLE_SUCCESS = frozenset(range(200, 207))
PUSH_SUCCESS = frozenset({102, 200, 201, 202, 204})
DEFAULT_PUSH_ACCOUNT = "rtdn-push@emulator-project.iam.gserviceaccount.com"


@dataclass(frozen=True)
class Attempt:
    delivery_id: int
    message: Message
    number: int  # 1 for the first attempt of this delivery
    at: datetime  # virtual time
    url: str
    status: int | None  # None: no HTTP answer (see error)
    error: str | None
    ok: bool

    def describe(self) -> dict[str, Any]:
        return {
            "delivery_id": self.delivery_id,
            "store": self.message.store,
            "notification_type": self.message.notification_type,
            "subtype": self.message.subtype,
            "notification_id": self.message.notification_id,
            "key": self.message.key,
            "attempt": self.number,
            "at": iso(self.at),
            "url": self.url,
            "status": self.status,
            "error": self.error,
            "ok": self.ok,
        }


@dataclass
class Delivery:
    id: int
    message: Message
    duplicate: bool
    state: DeliveryState
    due: datetime | None  # next attempt (virtual time); None unless pending
    order: int  # attempts due at the same instant go in this order
    hold: int | None = None  # the policy rule holding it back
    attempts: list[Attempt] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            **self.message.describe(),
            "duplicate": self.duplicate,
            "state": self.state,
            "next_attempt_at": iso(self.due),
            "held_by_rule": self.hold,
            "attempts": [
                {"at": iso(a.at), "status": a.status, "error": a.error, "ok": a.ok}
                for a in self.attempts
            ],
        }


class RetrySchedule(Protocol):
    @property
    def success(self) -> frozenset[int]:
        """The HTTP statuses that count as delivered."""
        ...

    def after(self, message: Message, attempts: int, last: datetime) -> datetime | None:
        """When to try again after `attempts` failed attempts, the last at `last`; None to
        give up."""
        ...


@dataclass(frozen=True)
class AppleRetries:
    delays: tuple[timedelta, ...] = tuple(timedelta(hours=h) for h in (1, 12, 24, 48, 72))
    success: frozenset[int] = APPLE_SUCCESS

    def after(self, message: Message, attempts: int, last: datetime) -> datetime | None:
        if not message.retried or attempts > len(self.delays):
            return None
        return last + self.delays[attempts - 1]


@dataclass(frozen=True)
class PushRetries:
    minimum: timedelta = timedelta(seconds=10)
    maximum: timedelta = timedelta(seconds=600)
    retention: timedelta = timedelta(days=7)
    success: frozenset[int] = PUSH_SUCCESS

    def after(self, message: Message, attempts: int, last: datetime) -> datetime | None:
        if not message.retried:
            return None
        delay = min(self.minimum * 2 ** min(attempts - 1, 32), self.maximum)
        following = last + delay
        return following if following <= message.emitted_at + self.retention else None


@dataclass
class Targets:
    """Where each store delivers, and what the push subscription's OIDC token says."""

    apple_url: str | None = None
    google_url: str | None = None
    push_audience: str | None = None  # None: the push URL, as Pub/Sub defaults it
    push_service_account: str = DEFAULT_PUSH_ACCOUNT

    def url(self, store: StoreName) -> str | None:
        return self.apple_url if store == "apple" else self.google_url

    @property
    def audience(self) -> str:
        return self.push_audience or self.google_url or ""

    def describe(self) -> dict[str, Any]:
        return {
            "apple_url": self.apple_url,
            "google_url": self.google_url,
            "push_audience": self.audience or None,
            "push_service_account": self.push_service_account,
        }


Headers = Callable[[Message, "Targets"], dict[str, str]]


class Courier:
    """The outgoing queue. Not thread-safe on its own: the emulator serializes calls."""

    def __init__(
        self,
        *,
        session: requests.Session,
        policy: DeliveryPolicy,
        headers: Headers,
        schedules: Mapping[StoreName, RetrySchedule] | None = None,
        on_attempt: Callable[[Attempt], None] | None = None,
        timeout: tuple[float, float] = (2.0, 10.0),
    ) -> None:
        self.session = session
        self.policy = policy
        self.targets = Targets()
        self.deliveries: list[Delivery] = []
        self.attempts: list[Attempt] = []
        self._headers = headers
        self._schedules: Mapping[StoreName, RetrySchedule] = schedules or {
            "apple": AppleRetries(),
            "google": PushRetries(),
        }
        self._on_attempt = on_attempt
        self._timeout = timeout
        self._ids = itertools.count(1)
        self._order = itertools.count(1)

    # -- queueing -----------------------------------------------------------------------

    def post(self, message: Message) -> list[Delivery]:
        """Queue a just-emitted notification as the policy says."""
        rule = self.policy.decide(message)
        copies = 2 if rule is not None and rule.action == "duplicate" else 1
        created = []
        for copy in range(copies):
            delivery = Delivery(
                id=next(self._ids),
                message=message,
                duplicate=copy > 0,
                state="pending",
                due=message.emitted_at,
                order=next(self._order),
            )
            if rule is not None and rule.action == "drop":
                delivery.state, delivery.due = "dropped", None
            elif rule is not None and rule.holds:
                delivery.state, delivery.due, delivery.hold = "held", None, rule.id
            created.append(delivery)
            self.deliveries.append(delivery)
        if rule is not None and rule.action == "reorder" and rule.used_up:
            self._release(rule, message.emitted_at)
        return created

    def release(
        self, now: datetime, *, store: StoreName | None = None, rule_id: int | None = None
    ) -> int:
        """Send what the policy holds back (all of it, one store's, or one rule's) from now
        on, each reorder batch in its rule's order. Returns how many were released."""
        released = 0
        holding = {d.hold for d in self.deliveries if d.state == "held" and d.hold is not None}
        for held_by in sorted(h for h in holding if h is not None):
            if rule_id is not None and held_by != rule_id:
                continue
            rule = self.policy.get(held_by)
            released += self._release(rule, now, held_by=held_by, store=store)
        return released

    def _release(
        self,
        rule: Rule | None,
        now: datetime,
        *,
        held_by: int | None = None,
        store: StoreName | None = None,
    ) -> int:
        rule_id = rule.id if rule is not None else held_by
        batch = [
            d
            for d in self.deliveries
            if d.state == "held"
            and d.hold == rule_id
            and (store is None or d.message.store == store)
        ]
        if rule is not None and rule.action == "reorder":
            batch = rule.arrange(batch)
        for delivery in batch:
            delivery.state, delivery.due, delivery.hold = "pending", now, None
            delivery.order = next(self._order)
        return len(batch)

    # -- time -----------------------------------------------------------------------------

    def next_due(self) -> datetime | None:
        """The next instant something is to be sent (an attempt, or a hold that ends)."""
        instants = [d.due for d in self.deliveries if d.state == "pending" and d.due is not None]
        for rule_id in {d.hold for d in self.deliveries if d.state == "held"}:
            rule = self.policy.get(rule_id) if rule_id is not None else None
            if rule is not None and rule.until is not None:
                instants.append(rule.until)
        return min(instants, default=None)

    def deliver_due(self, now: datetime) -> list[Attempt]:
        """Attempt every delivery due at or before `now`, oldest first; returns the attempts."""
        for rule in self.policy.rules:
            if rule.until is not None and rule.until <= now:
                self._release(rule, rule.until)
        due = sorted(
            (
                d
                for d in self.deliveries
                if d.state == "pending" and d.due is not None and d.due <= now
            ),
            key=lambda d: (d.due, d.order),
        )
        made = []
        for delivery in due:
            attempt = self._attempt(delivery, now)
            if attempt is not None:
                made.append(attempt)
        return made

    def _attempt(self, delivery: Delivery, now: datetime) -> Attempt | None:
        message = delivery.message
        url = self.targets.url(message.store)
        if not url:
            # The store has nowhere to send it (no URL configured): it never will.
            delivery.state, delivery.due = "unsent", None
            return None
        status: int | None = None
        error: str | None = None
        schedule = self._schedules[message.store]
        try:
            response = self.session.post(
                url,
                data=message.body,
                headers=self._headers(message, self.targets),
                timeout=self._timeout,
                allow_redirects=False,
            )
            status = response.status_code
            response.close()
        except requests.Timeout:
            error = "timeout"
        except requests.ConnectionError as problem:
            error = f"connection failed: {type(problem).__name__}"
        except requests.RequestException as problem:
            error = f"request failed: {type(problem).__name__}"
        ok = status is not None and status in schedule.success
        attempt = Attempt(
            delivery_id=delivery.id,
            message=message,
            number=len(delivery.attempts) + 1,
            at=now,
            url=url,
            status=status,
            error=error,
            ok=ok,
        )
        delivery.attempts.append(attempt)
        self.attempts.append(attempt)
        if ok:
            delivery.state, delivery.due = "delivered", None
        else:
            retry = schedule.after(message, len(delivery.attempts), now)
            delivery.state = "pending" if retry is not None else "failed"
            delivery.due = retry
        if self._on_attempt is not None:
            self._on_attempt(attempt)
        return attempt

    # -- reading --------------------------------------------------------------------------

    def counts(self) -> dict[str, dict[str, int]]:
        counts: dict[str, dict[str, int]] = {store: {} for store in STORES}
        for delivery in self.deliveries:
            per_store = counts[delivery.message.store]
            per_store[delivery.state] = per_store.get(delivery.state, 0) + 1
        return counts
