"""Durations added the calendar way, and read from the control API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from store_emulator import periods

JAN_31 = datetime(2026, 1, 31, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("duration", "expected"),
    [
        ("P1M", datetime(2026, 2, 28, 9, 30, tzinfo=UTC)),
        ("P1Y", datetime(2027, 1, 31, 9, 30, tzinfo=UTC)),
        ("P1W", datetime(2026, 2, 7, 9, 30, tzinfo=UTC)),
        ("P1M3D", datetime(2026, 3, 3, 9, 30, tzinfo=UTC)),
        ("PT6H30M", datetime(2026, 1, 31, 16, 0, tzinfo=UTC)),
        ("P1DT1S", datetime(2026, 2, 1, 9, 30, 1, tzinfo=UTC)),
        (timedelta(days=30), datetime(2026, 3, 2, 9, 30, tzinfo=UTC)),
    ],
)
def test_add(duration, expected):
    assert periods.add(JAN_31, duration) == expected


def test_a_leap_year_february():
    assert periods.add(datetime(2028, 1, 31, tzinfo=UTC), "P1M") == datetime(
        2028, 2, 29, tzinfo=UTC
    )


@pytest.mark.parametrize("bad", ["P", "1M", "PT", "P1H", "-P1D", ""])
def test_malformed_durations_are_refused(bad):
    with pytest.raises(ValueError, match="ISO 8601"):
        periods.add(JAN_31, bad)


def test_parse_takes_iso_text_or_seconds():
    assert periods.parse("P2D") == "P2D"
    assert periods.parse(90) == timedelta(seconds=90)
    assert periods.parse("3600") == timedelta(hours=1)
    with pytest.raises(ValueError, match="negative"):
        periods.parse(-1)
    with pytest.raises(ValueError, match="ISO 8601"):
        periods.parse("soon")
