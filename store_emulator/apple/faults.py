"""Failures the emulated App Store injects on request, for client tests.

A planned `Fault` answers the next matching request(s) instead of the store: a status with
Apple's error body and headers (429 with Retry-After, 500/503 bursts), optionally after a
delay (to trip client timeouts). A fault with no status only delays the real answer.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Fault:
    status: int | None = 500
    body: Mapping[str, Any] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    # Seconds the server waits before answering.
    delay: float = 0.0


def rate_limited(retry_at: datetime | None = None) -> Fault:
    """HTTP 429 RateLimitExceededError; Retry-After is Unix time in milliseconds."""
    headers = {"Retry-After": str(int(retry_at.timestamp() * 1000))} if retry_at else {}
    return Fault(
        429, {"errorCode": 4290000, "errorMessage": "Rate limit exceeded."}, headers=headers
    )


def internal_error(*, retryable: bool = True) -> Fault:
    code = 5000001 if retryable else 5000000
    return Fault(500, {"errorCode": code, "errorMessage": "An unknown error occurred."})


def unavailable() -> Fault:
    return Fault(503)


def unauthorized() -> Fault:
    return Fault(401)


def slow(seconds: float) -> Fault:
    return Fault(None, delay=seconds)


@dataclass
class _Plan:
    fault: Fault
    remaining: int
    path: str | None
    environment: str | None


class Faults:
    def __init__(self) -> None:
        self._plans: list[_Plan] = []
        self._lock = threading.Lock()

    def plan(
        self,
        fault: Fault,
        *,
        times: int = 1,
        path: str | None = None,
        environment: str | None = None,
    ) -> None:
        """Answer the next `times` requests whose path contains `path` (and that go to
        `environment`, "Production" or "Sandbox") with `fault`."""
        with self._lock:
            self._plans.append(_Plan(fault, times, path, environment))

    def take(self, environment: str, path: str) -> Fault | None:
        with self._lock:
            for plan in self._plans:
                if plan.remaining <= 0:
                    continue
                if plan.path is not None and plan.path not in path:
                    continue
                if plan.environment is not None and plan.environment != environment:
                    continue
                plan.remaining -= 1
                return plan.fault
            return None

    def clear(self) -> None:
        with self._lock:
            self._plans.clear()
