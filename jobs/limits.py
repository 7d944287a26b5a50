"""Keeping store calls within the stores' quotas: a rate and a concurrency cap per store.

The cap is applied to every HTTP request a store's session makes, retries and token refreshes
included, so the configured rate holds even while a store answers 429s and 5xxs (the
clients then back off as the store asks, within the same cap).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from requests.adapters import DEFAULT_POOLSIZE, HTTPAdapter

from jobs.session import StoreSession


class TokenBucket:
    """At most `rate` calls per second on average, bursts of up to `burst`; thread-safe."""

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.capacity = burst if burst is not None else max(1.0, rate)
        self._tokens = self.capacity
        self._monotonic = monotonic
        self._sleep = sleep
        self._updated = monotonic()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        while True:
            with self._lock:
                now = self._monotonic()
                self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
                self._updated = now
                # A hair's tolerance: float rounding must not leave a wait too small to matter.
                if self._tokens >= 1 - 1e-9:
                    self._tokens = max(0.0, self._tokens - 1)
                    return
                wait = (1 - self._tokens) / self.rate
            self._sleep(wait)


class LimitedSession(StoreSession):
    """A store's session: each request waits for a token and for a free slot."""

    def __init__(self, bucket: TokenBucket, concurrency: int) -> None:
        super().__init__()
        self.bucket = bucket
        self._slots = threading.BoundedSemaphore(concurrency)
        # One kept-alive connection per request in flight. requests' default pool keeps 10
        # per host: with more in flight, each extra request opened a new connection and
        # dropped it afterwards (a TCP handshake, and a warning logged, every time).
        pooled = HTTPAdapter(pool_maxsize=max(concurrency, DEFAULT_POOLSIZE))
        self.mount("https://", pooled)
        self.mount("http://", pooled)

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        self.bucket.acquire()
        with self._slots:
            return super().request(method, url, *args, **kwargs)
