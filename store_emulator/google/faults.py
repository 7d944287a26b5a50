"""Failure injection for the Play Developer API half, so clients meet Google's bad days."""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass
class Fault:
    """Answer the next `times` matching API requests with `status` (and `retry_after`), or
    delay them by `delay` real seconds (to make a client time out)."""

    status: int | None = None
    retry_after: str | None = None
    delay: float = 0.0
    times: int = 1
    path_contains: str = ""


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[Fault] = []

    def add(self, *faults: Fault) -> None:
        with self._lock:
            self._queue.extend(faults)

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()

    def take(self, path: str) -> Fault | None:
        """The first queued fault that matches `path`, counting one use of it."""
        with self._lock:
            for fault in self._queue:
                if fault.path_contains in path:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._queue.remove(fault)
                    return fault
            return None

    @property
    def pending(self) -> int:
        with self._lock:
            return sum(f.times for f in self._queue)
