"""ISO 8601 durations (P1W, P1M, P1Y, P7D, ...) added the calendar way, as Google bills.

The emulator keeps its own arithmetic rather than borrowing the engine's: it is the stand-in
for Google, so the engine's code is checked against it, not with it.
"""

from __future__ import annotations

import calendar
import re
from datetime import datetime, timedelta

_PATTERN = re.compile(r"P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?")


def add(instant: datetime, duration: str) -> datetime:
    match = _PATTERN.fullmatch(duration)
    if match is None or duration == "P":
        raise ValueError(f"unsupported duration {duration!r}")
    years, months, weeks, days = (int(part or 0) for part in match.groups())
    total = instant.year * 12 + instant.month - 1 + years * 12 + months
    year, month = divmod(total, 12)
    day = min(instant.day, calendar.monthrange(year, month + 1)[1])
    return instant.replace(year=year, month=month + 1, day=day) + timedelta(weeks=weeks, days=days)
