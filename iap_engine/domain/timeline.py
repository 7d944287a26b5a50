"""The append-only history of a subscription, as support reads it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from iap_engine.domain.values import Source


@dataclass(frozen=True, slots=True, kw_only=True)
class TimelineEntry:
    """One input the engine received about a subscription, applied or not.

    `kind` is an `EventKind` value for store input, or an engine action (`linked`,
    `transferred`, `account_deleted`). `outcome` is how `apply()` judged it (`applied`,
    `ignored`, `anomaly`) or `recorded` for engine actions; `note` says why, in words that
    never contain personal data.
    """

    subscription_id: str
    kind: str
    outcome: str
    store_time: datetime | None
    received_at: datetime
    source: Source
    store_type: str | None = None
    store_subtype: str | None = None
    inbox_id: int | None = None
    note: str | None = None
