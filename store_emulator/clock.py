"""The emulator's virtual clock: store time moves only when told to."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


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
