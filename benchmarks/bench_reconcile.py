"""Reconciliation throughput: due subscriptions fetched from the emulator and merged.

N Google subscriptions are due a check; the emulator answers subscriptionsv2.get after 20 ms
(a store's latency); `iap-engine worker` processes (1, then 3 on PostgreSQL) work the queue
until nothing is due. Reported: subscriptions per second, each worker's peak memory (RSS
high-water mark), and the CPU the workers and the emulator spent per subscription (on the
2-core benchmark machines these, with the database's, are what bound the rate). SQLite
allows one worker, so without PostgreSQL only the 1-worker row runs.

The emulator runs in a process of its own (`emulator_process`): in this one it would share
the interpreter with the benchmark's polling and be measured instead of the engine.
`IAP_BENCH_RECONCILE_COUNT` overrides N (for profiling runs).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, insert, select

from benchmarks.databases import scratch_postgres, sqlite_database
from benchmarks.emulator_process import PRODUCT
from benchmarks.harness import Benchmark, Options, Row
from iap_engine.persistence.database import create_database_engine
from iap_engine.persistence.tables import subscription_tokens, subscriptions
from store_emulator.serving import free_port

NAME = "reconcile"
LATENCY = 0.020
TARGET = 1000.0
_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Emulator:
    process: subprocess.Popen[bytes]
    settings: str  # the engine's [google] and [products] sections
    tokens: list[str]
    bought: datetime

    def cpu_seconds(self) -> float:
        return _cpu_seconds(self.process.pid)


def run(options: Options) -> list[Row]:
    count = int(os.environ.get("IAP_BENCH_RECONCILE_COUNT", 5_000 if options.quick else 100_000))
    rows = []
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-reconcile-")))
        sqlite = sqlite_database(folder, "engine.db")
        rows.append(_measure(folder / "sqlite", sqlite, count, workers=1, label="SQLite"))
        if options.postgres_url:
            for workers in (1, 3):
                url = stack.enter_context(scratch_postgres(options.postgres_url))
                rows.append(
                    _measure(folder / f"pg{workers}", url, count, workers, label="PostgreSQL")
                )
    single = next((r for r in rows if r.measure.startswith("PostgreSQL, 1 ")), None)
    for index, row in enumerate(rows):
        versus = f"{row.value / TARGET:.2f}x target {TARGET:,.0f}/s"
        if single is not None and row.measure.startswith("PostgreSQL, 3 "):
            versus += f"; {row.value / single.value:.2f}x one worker"
        rows[index] = Row(
            row.benchmark, row.measure, row.value, row.unit, f"{versus}; {row.versus}"
        )
    return rows


def _measure(folder: Path, database_url: str, count: int, workers: int, label: str) -> Row:
    folder.mkdir(parents=True, exist_ok=True)
    with _emulator(folder / "emulator", count) as emulator:
        _seed(database_url, emulator.tokens, emulator.bought)
        config = folder / "engine.toml"
        config.write_text(
            f'[database]\nurl = "{database_url}"\n\n'
            "[jobs]\nreconcile_every_seconds = 1\nhistory_every_seconds = 86400\n"
            "inbox_every_seconds = 86400\nbatch_size = 200\nlease_seconds = 300\n"
            "store_concurrency = 32\ngoogle_requests_per_second = 1000000\n\n" + emulator.settings,
            encoding="utf-8",
        )
        emulator_cpu = emulator.cpu_seconds()
        started = time.perf_counter()
        processes = [_worker(config, folder / f"w{i}.log") for i in range(workers)]
        try:
            while _due(database_url) > 0:
                time.sleep(0.2)
            elapsed = time.perf_counter() - started
            emulator_cpu = emulator.cpu_seconds() - emulator_cpu
            peaks = [_peak_rss_mb(p.pid) for p in processes]
            worker_cpu = sum(_cpu_seconds(p.pid) for p in processes)
        finally:
            for process in processes:
                process.send_signal(signal.SIGTERM)
            for process in processes:
                process.wait(timeout=60)
    return Row(
        NAME,
        f"{label}, {workers} worker{'s' if workers > 1 else ''}, {count:,} due, 20 ms store",
        count / elapsed,
        "subscriptions/s",
        f"peak RSS per worker {max(peaks):.0f} MB; CPU per subscription: workers"
        f" {worker_cpu / count * 1000:.2f} ms, emulator {emulator_cpu / count * 1000:.2f} ms",
    )


@contextmanager
def _emulator(folder: Path, count: int) -> Iterator[Emulator]:
    port = free_port()
    log = (folder.parent / "emulator.log").open("ab")
    process = subprocess.Popen(
        [
            sys.executable, "-m", "benchmarks.emulator_process", "--count", str(count),
            "--latency", str(LATENCY), "--dir", str(folder), "--port", str(port),
        ],
        stdout=log,
        stderr=log,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 600
        while not (folder / "ready").exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the emulator did not start; see {log.name}")
            time.sleep(0.1)
        yield Emulator(
            process=process,
            settings=(folder / "engine.toml").read_text(encoding="utf-8"),
            tokens=(folder / "tokens.txt").read_text(encoding="utf-8").split(),
            bought=datetime.fromisoformat((folder / "bought.txt").read_text(encoding="utf-8")),
        )
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _seed(database_url: str, tokens: list[str], bought: datetime) -> None:
    now = datetime.now(UTC)
    engine = create_database_engine(database_url)
    try:
        for start in range(0, len(tokens), 5_000):
            rows, token_rows = [], []
            for token in tokens[start : start + 5_000]:
                subscription_id = uuid.uuid4().hex
                rows.append(
                    {
                        "id": subscription_id, "store": "play_store",
                        "environment": "sandbox", "store_key": token, "product_id": PRODUCT,
                        "status": "active", "auto_renew": True,
                        "expires_at": bought + timedelta(days=30), "last_store_time": bought,
                        "account_deleted": False, "version": 1, "created_at": now,
                        "updated_at": now, "next_check_at": now - timedelta(hours=1),
                    }
                )  # fmt: skip
                token_rows.append(
                    {"store": "play_store", "token": token, "subscription_id": subscription_id,
                     "created_at": now}
                )  # fmt: skip
            with engine.begin() as connection:
                connection.execute(insert(subscriptions), rows)
                connection.execute(insert(subscription_tokens), token_rows)
    finally:
        engine.dispose()


def _due(database_url: str) -> int:
    engine = create_database_engine(database_url)
    try:
        with engine.connect() as connection:
            due: int = connection.execute(
                select(func.count())
                .select_from(subscriptions)
                .where(subscriptions.c.next_check_at <= datetime.now(UTC))
            ).scalar_one()
            return due
    finally:
        engine.dispose()


def _worker(config: Path, log: Path) -> subprocess.Popen[bytes]:
    handle = log.open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "iap_engine.cli", "worker", "--config", str(config)],
        stdout=handle,
        stderr=handle,
        env={**os.environ},
    )


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _cpu_seconds(pid: int) -> float:
    """User and system CPU the process has used (Linux /proc; its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


BENCHMARK = Benchmark(NAME, run)
