"""`Turns`: one delivery at a time per process, but a slow one never stalls the others."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import anyio

from iap_engine.api.turns import Turns


def test_quick_work_takes_turns() -> None:
    turns = Turns(patience=10)
    running = 0
    most = 0
    guard = threading.Lock()

    def work() -> None:
        nonlocal running, most
        with guard:
            running += 1
            most = max(most, running)
        # Gives up the GIL, so that deliveries not taking turns would overlap here.
        time.sleep(0.01)
        with guard:
            running -= 1

    async def main() -> None:
        async with anyio.create_task_group() as group:
            for _ in range(8):
                group.start_soon(turns.run, work)

    anyio.run(main)
    assert most == 1


def test_a_slow_one_does_not_stall_the_next_beyond_patience() -> None:
    turns = Turns(patience=0.01)
    second_started = threading.Event()

    def slow() -> str:
        # Waits (as on a store API) until the next delivery ran beside it.
        assert second_started.wait(10)
        return "slow"

    def next_one() -> str:
        second_started.set()
        return "next"

    results: list[str] = []

    async def main() -> None:
        async def run(function: Callable[[], str]) -> None:
            results.append(await turns.run(function))

        async with anyio.create_task_group() as group:
            group.start_soon(run, slow)
            await anyio.sleep(0.001)
            group.start_soon(run, next_one)

    anyio.run(main)
    assert results == ["next", "slow"]
