"""Taking turns: App Store deliveries on SQLite run one at a time per worker process.

They are CPU-bound (three signature checks, the merge, two short transactions) and SQLite
takes one writer at a time. With several in one process, their threads interleave on the
GIL, and the thread holding the write lock waits for the GIL while the other processes wait
for the lock. One at a time per process, with `serve --workers` processes for the cores,
took 26-43% more deliveries per second in the ingest benchmark, with a lower p99
(PostgreSQL, whose writers do not queue on one lock, gained nothing and does not take
turns). A delivery that waits on the App Store API instead (a notification without the
subscription's state) must not stall the others: no one waits for a turn longer than
`patience`, and then runs beside it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import anyio
from starlette.concurrency import run_in_threadpool

T = TypeVar("T")

PATIENCE = 0.05  # seconds


class Turns:
    def __init__(self, patience: float = PATIENCE) -> None:
        self._patience = patience
        self._lock: anyio.Lock | None = None

    async def run(self, function: Callable[[], T]) -> T:
        """`function()` in a worker thread, once it is this call's turn or patience ran out."""
        if self._lock is None:
            self._lock = anyio.Lock()  # made in the event loop that uses it
        lock = self._lock
        taken = False
        with anyio.move_on_after(self._patience):
            await lock.acquire()
            taken = True
        try:
            return await run_in_threadpool(function)
        finally:
            if taken:
                lock.release()
