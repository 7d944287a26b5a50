"""The emulator's two clocks.

Store business time (purchase and expiry dates, signedDate, eventTimeMillis, order times)
comes from a `VirtualClock` that moves only when told to. Transport authentication (the push
OIDC token's iat/exp, the bearer JWTs and assertions the engine sends) uses a wall clock,
because the engine on the other end runs on real time. Both are handed around explicitly;
nothing below reads `datetime.now` on its own.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """Real time, to the second (the wall clock)."""

    def now(self) -> datetime:
        return datetime.now(UTC).replace(microsecond=0)


class VirtualClock:
    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime.now(UTC).replace(microsecond=0)
        if self._now.tzinfo is None:
            raise ValueError("the virtual clock works in aware UTC datetimes")
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> datetime:
        if delta < timedelta(0):
            raise ValueError("time does not run backwards")
        with self._lock:
            self._now += delta
            return self._now

    def advance_to(self, instant: datetime) -> datetime:
        with self._lock:
            if instant < self._now:
                raise ValueError("time does not run backwards")
            self._now = instant
            return self._now
