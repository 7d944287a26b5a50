"""ISO 8601 durations (P1W, P1M, P1Y, P7D, PT1H30M, ...) added the calendar way, as stores bill.

A month from Jan 31 is Feb 28 (or 29): the day is clamped to the target month's length, as
Google and Apple do for monthly renewals. The emulator keeps its own arithmetic rather than
borrowing the engine's: it is the stand-in for the stores, so the engine is checked against
it, not with it.
"""

from __future__ import annotations

import calendar
import re
from datetime import datetime, timedelta

_PATTERN = re.compile(
    r"P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?"
)

# A store period: an ISO 8601 duration (calendar months and years) or a fixed length.
Duration = str | timedelta


def check(duration: str) -> str:
    """The duration itself, or ValueError when it is not one this module can add."""
    match = _PATTERN.fullmatch(duration)
    if match is None or not any(match.groups()):
        raise ValueError(f"unsupported ISO 8601 duration {duration!r}")
    return duration


def add(instant: datetime, duration: Duration) -> datetime:
    if isinstance(duration, timedelta):
        return instant + duration
    match = _PATTERN.fullmatch(duration)
    if match is None or not any(match.groups()):
        raise ValueError(f"unsupported ISO 8601 duration {duration!r}")
    years, months, weeks, days, hours, minutes, seconds = (int(p or 0) for p in match.groups())
    total = instant.year * 12 + instant.month - 1 + years * 12 + months
    year, month = divmod(total, 12)
    day = min(instant.day, calendar.monthrange(year, month + 1)[1])
    shifted = instant.replace(year=year, month=month + 1, day=day)
    return shifted + timedelta(
        weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds
    )


def parse(value: str | float) -> Duration:
    """A duration as the control API takes it: ISO 8601 text, or a number of seconds."""
    if isinstance(value, bool):
        raise ValueError("a duration is ISO 8601 text or a number of seconds")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return timedelta(seconds=value)
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        return check(text)
    return parse(seconds)
