"""ISO 8601 durations as Google's catalogue writes them (P1W, P1M, P3M, P1Y, P3D, ...).

Months and years are calendar units: subtracting P1M from March 31 gives February 28 (or 29),
the way Google moves a renewal day that does not exist in the shorter month.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

_PATTERN = re.compile(
    r"P(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?"
)


@dataclass(frozen=True, slots=True)
class Duration:
    months: int = 0
    fixed: timedelta = timedelta(0)

    @classmethod
    def parse(cls, text: str) -> Duration:
        match = _PATTERN.fullmatch(text.strip())
        if match is None or text.strip() in ("P", "PT"):
            raise ValueError(f"not an ISO 8601 duration: {text!r}")
        part = {name: int(value) for name, value in match.groupdict(default="0").items()}
        return cls(
            months=part["years"] * 12 + part["months"],
            fixed=timedelta(
                weeks=part["weeks"],
                days=part["days"],
                hours=part["hours"],
                minutes=part["minutes"],
                seconds=part["seconds"],
            ),
        )

    @classmethod
    def parse_optional(cls, text: object) -> Duration | None:
        if not isinstance(text, str) or not text:
            return None
        try:
            return cls.parse(text)
        except ValueError:
            return None

    def after(self, instant: datetime) -> datetime:
        return _add_months(instant, self.months) + self.fixed

    def before(self, instant: datetime) -> datetime:
        return _add_months(instant - self.fixed, -self.months)

    def __bool__(self) -> bool:
        return self.months != 0 or self.fixed != timedelta(0)


def _add_months(instant: datetime, months: int) -> datetime:
    if months == 0:
        return instant
    index = instant.year * 12 + instant.month - 1 + months
    year, month = divmod(index, 12)
    day = min(instant.day, calendar.monthrange(year, month + 1)[1])
    return instant.replace(year=year, month=month + 1, day=day)
