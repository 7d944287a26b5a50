"""Re-running a use case that lost an optimistic-concurrency race."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from iap_engine.service.errors import ConcurrentUpdate

T = TypeVar("T")

ATTEMPTS = 8


def retrying(operation: Callable[[], T], attempts: int = ATTEMPTS) -> T:
    """Run `operation` (a whole unit of work) again while another writer beats it.

    Each attempt reloads what it reads, so a retry decides on fresh state.
    """
    for _ in range(attempts - 1):
        try:
            return operation()
        except ConcurrentUpdate:
            continue
    return operation()
