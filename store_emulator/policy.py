"""What happens to emitted notifications on their way out: the delivery policy.

Tests of a webhook consumer need the network's bad days on demand. A policy is an ordered
list of rules; the first rule that matches a new notification (by store and notification
type) and is not used up decides its fate:

- `drop`: never sent (the store still lists it in Apple's notification history);
- `duplicate`: sent twice (same body, same notification id), each copy retried on its own;
- `delay`: held back until released, or until the virtual clock reaches `until`;
- `reorder`: held until the batch is complete (`count` notifications), released, or `until`
  passes, then sent in reverse order or shuffled with `seed`.

`count` limits a rule to the next N matching notifications; without it the rule applies to
every match until it is removed.
"""

from __future__ import annotations

import itertools
import random
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, TypeVar

from store_emulator.message import Message, StoreName, iso

Action = Literal["drop", "duplicate", "delay", "reorder"]
ACTIONS: tuple[Action, ...] = ("drop", "duplicate", "delay", "reorder")

_T = TypeVar("_T")


@dataclass
class Rule:
    action: Action
    store: StoreName | None = None  # None: both stores
    types: tuple[str, ...] = ()  # notification types (DID_RENEW, SUBSCRIPTION_RENEWED...); (): any
    count: int | None = None  # the next N matching notifications; None: all of them
    until: datetime | None = None  # delay/reorder: release at this virtual instant
    order: Literal["reverse", "shuffle"] = "reverse"  # reorder only
    seed: int = 0  # reorder with shuffle
    id: int = 0
    matched: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"unknown delivery action {self.action!r}")
        if self.count is not None and self.count < 1:
            raise ValueError("count must be at least 1")
        if self.until is not None and self.action not in ("delay", "reorder"):
            raise ValueError("until applies to delay and reorder only")
        if self.order not in ("reverse", "shuffle"):
            raise ValueError("order is reverse or shuffle")

    @property
    def holds(self) -> bool:
        return self.action in ("delay", "reorder")

    @property
    def used_up(self) -> bool:
        return self.count is not None and self.matched >= self.count

    def matches(self, message: Message) -> bool:
        if self.store is not None and message.store != self.store:
            return False
        return not self.types or message.notification_type in self.types

    def arrange(self, items: list[_T]) -> list[_T]:
        """A reorder batch in the order it is sent."""
        if self.order == "reverse":
            return items[::-1]
        shuffled = items[:]
        random.Random(self.seed).shuffle(shuffled)  # noqa: S311 (test fixture, not secrecy)
        return shuffled

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "action": self.action,
            "store": self.store,
            "types": list(self.types),
            "count": self.count,
            "until": iso(self.until),
            "order": self.order,
            "seed": self.seed,
            "matched": self.matched,
        }


class DeliveryPolicy:
    def __init__(self) -> None:
        self._rules: list[Rule] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    @property
    def rules(self) -> list[Rule]:
        with self._lock:
            return list(self._rules)

    def add(self, rule: Rule) -> Rule:
        with self._lock:
            rule.id = next(self._ids)
            self._rules.append(rule)
            return rule

    def get(self, rule_id: int) -> Rule | None:
        with self._lock:
            return next((r for r in self._rules if r.id == rule_id), None)

    def remove(self, rule_id: int) -> bool:
        with self._lock:
            before = len(self._rules)
            self._rules = [r for r in self._rules if r.id != rule_id]
            return len(self._rules) < before

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def decide(self, message: Message) -> Rule | None:
        """The rule that handles `message` (counted as used), or None to send it normally."""
        with self._lock:
            for rule in self._rules:
                if not rule.used_up and rule.matches(message):
                    rule.matched += 1
                    return rule
            return None
