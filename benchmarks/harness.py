"""Rows, options and the table the harness prints."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Options:
    # Shorter runs for a smoke check (CI); full runs for the figures in closing notes.
    quick: bool = False
    postgres_url: str | None = None


@dataclass(frozen=True)
class Row:
    benchmark: str
    measure: str
    value: float
    unit: str
    # Comparison against a baseline or target, e.g. "0.82x bound (target >= 0.70)".
    versus: str = ""


@dataclass(frozen=True)
class Benchmark:
    name: str
    run: Callable[[Options], Sequence[Row]]


def format_table(rows: Sequence[Row]) -> str:
    header = ("benchmark", "measure", "value", "unit", "versus")
    cells = [header] + [(r.benchmark, r.measure, _number(r.value), r.unit, r.versus) for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = []
    for index, row in enumerate(cells):
        lines.append(
            "  ".join(
                cell.rjust(widths[i]) if i == 2 else cell.ljust(widths[i])
                for i, cell in enumerate(row)
            ).rstrip()
        )
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _number(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"
