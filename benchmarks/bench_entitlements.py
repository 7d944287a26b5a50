"""Entitlement look-ups: "what may user X use now?" over a realistic subscription book.

100k subscriptions in quick mode, 1M in full mode (see `entitlement_data`: a few terms per
subscription, refunds, users with several subscriptions), bulk-loaded into a fresh SQLite
file, and into a scratch PostgreSQL database when a server URL is given. Rows per database:

- in-process: `entitlements_for_user` through a `SqlUnitOfWorkFactory`, one caller, random
  users: look-ups per second, p50 and p99 (target p99 < 2 ms at 1M);
- over HTTP: `GET /v1/users/{id}/entitlements` against `iap-engine serve` with 8 clients.
"""

from __future__ import annotations

import hashlib
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url

from benchmarks.databases import scratch_postgres, sqlite_database
from benchmarks.entitlement_data import (
    CATALOG,
    LIFETIME,
    MONTHLY,
    YEARLY,
    Totals,
    generate,
    load_postgres,
    load_sqlite,
)
from benchmarks.harness import Benchmark, Options, Row
from benchmarks.load import Load, get, run_load
from benchmarks.servers import HOST, engine_command, server_process
from iap_engine.clock import SystemClock
from iap_engine.persistence.database import create_database_engine
from iap_engine.persistence.unit_of_work import SqlUnitOfWorkFactory
from iap_engine.service.entitlements import entitlements_for_user

NAME = "entitlements"
TARGET_P99_MS = 2.0
HTTP_CLIENTS = 8
API_KEY = "bench-service-key"


@dataclass(frozen=True)
class Plan:
    subscriptions: int
    seconds: float
    http_seconds: float


def run(options: Options) -> list[Row]:
    plan = Plan(100_000, 2.0, 2.0) if options.quick else Plan(1_000_000, 8.0, 5.0)
    now = datetime.now(UTC)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="iap-bench-entitlements-") as folder:
        directory = Path(folder)
        url = sqlite_database(directory, "book.db")
        started = time.perf_counter()
        totals = load_sqlite(str(directory / "book.db"), generate(plan.subscriptions, now))
        rows += _rows("SQLite", url, totals, time.perf_counter() - started, plan, directory)
        if options.postgres_url:
            with scratch_postgres(options.postgres_url) as pg_url:
                started = time.perf_counter()
                driver_url = make_url(pg_url).set(drivername="postgresql")
                totals = load_postgres(
                    driver_url.render_as_string(hide_password=False),
                    generate(plan.subscriptions, now),
                )
                loaded = time.perf_counter() - started
                rows += _rows("PostgreSQL", pg_url, totals, loaded, plan, directory)
    return rows


def _rows(
    label: str, url: str, totals: Totals, loaded: float, plan: Plan, directory: Path
) -> list[Row]:
    count = totals.subscriptions
    size = f"{count / 1e6:g}M" if count >= 1_000_000 else f"{count // 1000}k"
    latencies = _in_process(url, totals.users, plan.seconds)
    rate = len(latencies) / sum(latencies)
    p50, p99 = _percentile(latencies, 0.5), _percentile(latencies, 0.99)
    target = f"target p99 < {TARGET_P99_MS:g} ms at 1M"
    rows = [
        Row(
            NAME,
            f"{label}, {size} subscriptions, in-process, 1 caller",
            rate,
            "look-ups/s",
            f"p50 {p50:.2f} ms",
        ),
        Row(NAME, f"{label}, {size}, in-process p99", p99, "ms", target),
    ]
    http = _http(url, totals.users, plan.http_seconds, directory)
    rows += [
        Row(
            NAME,
            f"{label}, {size}, HTTP GET, {HTTP_CLIENTS} clients",
            http.rate,
            "look-ups/s",
            f"p50 {http.percentile(0.5):.1f} ms, p99 {http.percentile(0.99):.1f} ms"
            + (f"; {http.failures} failed" if http.failures else ""),
        ),
        Row(
            NAME,
            f"{label}, {size}, bulk load",
            totals.subscriptions / loaded,
            "subscriptions/s",
            f"{totals.periods:,} periods, {totals.revocations:,} revocations, "
            f"{len(totals.users):,} users in {loaded:.0f} s",
        ),
    ]
    return rows


def _in_process(url: str, users: list[str], seconds: float) -> list[float]:
    """Seconds per look-up of random users, after a warm-up."""
    engine = create_database_engine(url)
    uow_factory = SqlUnitOfWorkFactory(engine)
    clock = SystemClock()
    chooser = random.Random(11)
    try:
        look_up: Callable[[str], object] = lambda user: entitlements_for_user(  # noqa: E731
            uow_factory, clock, CATALOG, user
        )
        for _ in range(2_000):
            look_up(chooser.choice(users))
        latencies: list[float] = []
        timer = time.perf_counter
        deadline = timer() + seconds
        while timer() < deadline:
            for user in chooser.choices(users, k=500):
                began = timer()
                look_up(user)
                latencies.append(timer() - began)
        return latencies
    finally:
        engine.dispose()


def _http(url: str, users: list[str], seconds: float, directory: Path) -> Load:
    config = directory / "entitlements.toml"
    config.write_text(_config(url), encoding="utf-8")
    chooser = random.Random(13)
    log = directory / "entitlements.log"
    with server_process(engine_command(config, workers=2), log=log, ready_path="/healthz") as port:
        headers = [f"Authorization: Bearer {API_KEY}"]

        def requests(count: int) -> list[bytes]:
            return [
                get(HOST, port, f"/v1/users/{user}/entitlements", headers)
                for user in chooser.choices(users, k=count)
            ]

        run_load(HOST, port, requests(2_000), clients=HTTP_CLIENTS, seconds=30)
        return run_load(
            HOST, port, requests(int(seconds * 6_000)), clients=HTTP_CLIENTS, seconds=seconds
        )


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000


def _config(url: str) -> str:
    digest = hashlib.sha256(API_KEY.encode()).hexdigest()
    return f"""
[database]
url = "{url}"

[[auth.api_keys]]
name = "bench"
role = "service"
sha256 = "{digest}"

[products."{MONTHLY}"]
entitlements = ["premium"]
type = "auto_renewable"

[products."{YEARLY}"]
entitlements = ["premium"]
type = "auto_renewable"

[products."{LIFETIME}"]
entitlements = ["premium", "pro"]
type = "non_consumable"
"""


BENCHMARK = Benchmark(NAME, run)
