"""How the API client retries: bounded attempts, exponential backoff, Retry-After honoured."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    # Total tries of one request (the first included).
    attempts: int = 4
    first_delay: float = 0.5
    multiplier: float = 2.0
    max_delay: float = 8.0
    # A 429 asking to wait longer than this is handed to the caller (`retry_at`) instead of
    # blocking a worker; jobs reschedule.
    max_retry_after: float = 30.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")

    def delay(self, failed_attempts: int) -> float:
        """Seconds to wait after the given number of failed attempts (1, 2, ...)."""
        return min(self.max_delay, self.first_delay * self.multiplier ** (failed_attempts - 1))
