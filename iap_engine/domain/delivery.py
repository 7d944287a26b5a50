"""A raw store delivery as the inbox keeps it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from iap_engine.domain.values import Store


class DeliveryStatus(StrEnum):
    RECEIVED = "received"  # stored, not yet (fully) processed
    PROCESSED = "processed"  # merged into a subscription
    IGNORED = "ignored"  # valid but about no subscription (a test notification, a summary)
    FAILED = "failed"  # processing failed; retried with backoff
    DEAD = "dead"  # retried too often; kept for `iap-engine replay`
    REJECTED = "rejected"  # forged, wrong app, or malformed: never touches a subscription


FINISHED = frozenset({DeliveryStatus.PROCESSED, DeliveryStatus.IGNORED, DeliveryStatus.REJECTED})


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    id: int
    store: Store
    delivery_id: str
    body: bytes
    received_at: datetime
    status: DeliveryStatus
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    subscription_id: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED
