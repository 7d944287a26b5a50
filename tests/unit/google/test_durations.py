"""ISO 8601 durations as Google's catalogue writes them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from store_adapters.google.durations import Duration


@pytest.mark.parametrize(
    ("text", "months", "fixed"),
    [
        ("P1M", 1, timedelta(0)),
        ("P3M", 3, timedelta(0)),
        ("P1Y", 12, timedelta(0)),
        ("P1W", 0, timedelta(weeks=1)),
        ("P7D", 0, timedelta(days=7)),
        ("P1Y2M3DT4H", 14, timedelta(days=3, hours=4)),
    ],
)
def test_parse(text, months, fixed):
    assert Duration.parse(text) == Duration(months=months, fixed=fixed)


@pytest.mark.parametrize("text", ["", "P", "1M", "PXM", "P1.5M"])
def test_not_a_duration(text):
    with pytest.raises(ValueError, match="ISO 8601"):
        Duration.parse(text)
    assert Duration.parse_optional(text) is None


def test_months_are_calendar_months_with_the_day_clamped():
    march_31 = datetime(2026, 3, 31, 10, 0, tzinfo=UTC)

    assert Duration.parse("P1M").before(march_31) == datetime(2026, 2, 28, 10, 0, tzinfo=UTC)
    assert Duration.parse("P1M").after(datetime(2026, 1, 31, tzinfo=UTC)) == datetime(
        2026, 2, 28, tzinfo=UTC
    )
    assert Duration.parse("P1Y").before(datetime(2028, 2, 29, tzinfo=UTC)) == datetime(
        2027, 2, 28, tzinfo=UTC
    )
    assert Duration.parse("P1M").before(datetime(2026, 1, 15, tzinfo=UTC)) == datetime(
        2025, 12, 15, tzinfo=UTC
    )


def test_empty_duration_is_false():
    assert not Duration()
    assert Duration.parse("P0D") == Duration()
