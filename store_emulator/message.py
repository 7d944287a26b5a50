"""`Message`: one notification a store emitted, exactly as it goes over HTTP."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

StoreName = Literal["apple", "google"]
STORES: tuple[StoreName, ...] = ("apple", "google")


@dataclass(frozen=True)
class Message:
    """The body is fixed when the store emits the notification: a retry or a duplicate
    sends the same bytes (same notificationUUID, same Pub/Sub messageId), as the stores do.
    Only transport headers (the push OIDC token) are made afresh for each attempt."""

    store: StoreName
    notification_type: str
    subtype: str | None
    emitted_at: datetime  # store (virtual) time
    body: bytes = field(repr=False)
    notification_id: str  # Apple notificationUUID, Pub/Sub messageId
    key: str | None = None  # originalTransactionId or purchase token it is about
    retried: bool = True  # whether the store retries a failed delivery

    def describe(self) -> dict[str, Any]:
        return {
            "store": self.store,
            "notification_type": self.notification_type,
            "subtype": self.subtype,
            "emitted_at": iso(self.emitted_at),
            "notification_id": self.notification_id,
            "key": self.key,
        }


def iso(instant: datetime | None) -> str | None:
    """ISO 8601 UTC with Z, as the control API answers times."""
    if instant is None:
        return None
    return instant.isoformat().replace("+00:00", "Z")
