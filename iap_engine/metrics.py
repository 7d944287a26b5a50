"""A small in-process metrics registry rendered in the Prometheus text format.

Counters and histograms with labels; thread-safe. Each process has its own registry (run one
API process per container, or scrape each).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

DEFAULT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _labels(names: Sequence[str], values: Sequence[str]) -> str:
    if not names:
        return ""
    pairs = ",".join(
        f'{n}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for n, v in zip(names, values, strict=True)
    )
    return "{" + pairs + "}"


@dataclass
class Counter:
    name: str
    help: str
    label_names: tuple[str, ...] = ()
    _values: dict[tuple[str, ...], float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def inc(self, *labels: str, amount: float = 1.0) -> None:
        with self._lock:
            self._values[labels] = self._values.get(labels, 0.0) + amount

    def value(self, *labels: str) -> float:
        return self._values.get(labels, 0.0)

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} counter"]
        with self._lock:
            for labels, value in sorted(self._values.items()):
                lines.append(f"{self.name}{_labels(self.label_names, labels)} {value:g}")
        return lines


@dataclass
class Histogram:
    name: str
    help: str
    label_names: tuple[str, ...] = ()
    buckets: tuple[float, ...] = DEFAULT_BUCKETS
    _series: dict[tuple[str, ...], list[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def observe(self, value: float, *labels: str) -> None:
        with self._lock:
            # per series: one count per bucket, then +Inf count, then the sum
            series = self._series.setdefault(labels, [0.0] * (len(self.buckets) + 2))
            for index, bound in enumerate(self.buckets):
                if value <= bound:
                    series[index] += 1
            series[-2] += 1
            series[-1] += value

    def count(self, *labels: str) -> float:
        series = self._series.get(labels)
        return series[-2] if series else 0.0

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        with self._lock:
            for labels, series in sorted(self._series.items()):
                for index, bound in enumerate(self.buckets):
                    le = _labels((*self.label_names, "le"), (*labels, f"{bound:g}"))
                    lines.append(f"{self.name}_bucket{le} {series[index]:g}")
                inf = _labels((*self.label_names, "le"), (*labels, "+Inf"))
                lines.append(f"{self.name}_bucket{inf} {series[-2]:g}")
                base = _labels(self.label_names, labels)
                lines.append(f"{self.name}_sum{base} {series[-1]:g}")
                lines.append(f"{self.name}_count{base} {series[-2]:g}")
        return lines


class Metrics:
    """The engine's metrics; one instance per process, made by bootstrap."""

    def __init__(self) -> None:
        self.deliveries = Counter(
            "iap_deliveries_total", "Store deliveries by store and outcome.", ("store", "outcome")
        )
        self.delivery_seconds = Histogram(
            "iap_delivery_seconds", "Time to store and process a delivery.", ("store",)
        )
        self.store_calls = Counter(
            "iap_store_api_calls_total",
            "Calls to store APIs by store and result.",
            ("store", "result"),
        )
        self.requests = Counter(
            "iap_http_requests_total", "HTTP requests by route and status.", ("route", "status")
        )

    def render(self) -> str:
        lines: list[str] = []
        for metric in (self.deliveries, self.delivery_seconds, self.store_calls, self.requests):
            lines.extend(metric.render())
        return "\n".join(lines) + "\n"
