"""Webhook ingestion over real HTTP: App Store notifications into `iap-engine serve`.

Eight clients, each on its own keep-alive connection (`load`), post unique emulator-signed
notifications (new subscriptions and renewals of existing ones, see `apple_corpus`) as fast
as the server answers, to `serve --workers 2` (one per core of the benchmark machines).
Rows, all from one run on the same corpus:

- the engine on SQLite, and on PostgreSQL when a server URL is given (a scratch database is
  created and dropped): notifications per second, p50 and p99 latency;
- the baseline of DESIGN.md section 10: Apple's library behind a plain FastAPI endpoint that
  inserts a row into SQLite (`baseline_app`), the `versus` column's reference;
- the bound: a uvicorn endpoint that reads the body and answers, doing nothing else, with
  the same generator. It shows what HTTP alone costs on this machine, and that the
  generator (whose CPU per request is printed) is not what limits the other rows.

Every server first takes a short warm-up (its caches, connection pools, the chain check),
then the measured run. Afterwards the engine's inbox must hold every delivery as processed.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select

from benchmarks.apple_corpus import AppleCorpus, make_corpus
from benchmarks.baseline_app import APP_APPLE_ID, BUNDLE_ID, DATABASE, ROOT
from benchmarks.databases import scratch_postgres, sqlite_database
from benchmarks.harness import Benchmark, Options, Row
from benchmarks.load import Load, post, run_load
from benchmarks.servers import HOST, engine_command, server_process, uvicorn_command
from iap_engine.persistence.database import create_database_engine
from iap_engine.persistence.tables import inbox

NAME = "ingest"
CLIENTS = 8
PATH = "/v1/notifications/apple"
# Engine worker processes (`iap-engine serve --workers`); the environment may override it.
WORKERS = int(os.environ.get("IAP_BENCH_INGEST_WORKERS", "2"))
TARGET_VERSUS = 10.0
TARGET_SQLITE = 1_400
TARGET_POSTGRES = 1_500
TARGET_P99_MS = 50.0
# Notifications prepared per measured second: more than the engine can take, so no client
# runs dry (one that does simply stops; the rate stays completed / elapsed).
CEILING_PER_SECOND = 3_000


@dataclass(frozen=True)
class Plan:
    seconds: float
    baseline_seconds: float
    warmup: int

    @property
    def measured(self) -> int:
        return int(self.seconds * CEILING_PER_SECOND)


def run(options: Options) -> list[Row]:
    plan = Plan(3.0, 3.0, 400) if options.quick else Plan(10.0, 8.0, 1_000)
    corpus = make_corpus(plan.warmup + plan.measured)
    with tempfile.TemporaryDirectory(prefix="iap-bench-ingest-") as folder:
        directory = Path(folder)
        root = directory / "root.der"
        root.write_bytes(corpus.root_der)
        bound = _bound(directory, corpus, plan)
        baseline = _baseline(directory, corpus, plan, root)
        measured = _engine(directory, corpus, plan, root, "sqlite")
        rows = _engine_rows("engine, SQLite", measured, baseline, TARGET_SQLITE)
        if options.postgres_url:
            with scratch_postgres(options.postgres_url) as url:
                measured = _engine(directory, corpus, plan, root, url)
            rows += _engine_rows("engine, PostgreSQL", measured, baseline, TARGET_POSTGRES)
    rows += [
        Row(
            NAME,
            "baseline: Apple's library + FastAPI + SQLite insert",
            baseline.rate,
            "notifications/s",
            f"p50 {baseline.percentile(0.5):.0f} ms, p99 {baseline.percentile(0.99):.0f} ms",
        ),
        Row(
            NAME,
            "bound: uvicorn endpoint that only reads the body",
            bound.rate,
            "requests/s",
            f"p99 {bound.percentile(0.99):.1f} ms; generator CPU "
            f"{bound.client_cpu_per_request * 1e6:.0f} us/request",
        ),
    ]
    return rows


@dataclass(frozen=True)
class Measured:
    load: Load
    workers: int
    processed: int  # inbox rows processed, warm-up included
    sent: int


def _engine_rows(label: str, measured: Measured, baseline: Load, target: float) -> list[Row]:
    load = measured.load
    p50, p99 = load.percentile(0.5), load.percentile(0.99)
    check = ""
    if load.failures or measured.processed != measured.sent:
        check = f"; {load.failures} failed, {measured.processed}/{measured.sent} processed"
    title = f"{label}, {CLIENTS} clients, {measured.workers} workers"
    return [
        Row(
            NAME,
            title,
            load.rate,
            "notifications/s",
            f"{load.rate / baseline.rate:.1f}x baseline (target >= {TARGET_VERSUS:.0f}x); "
            f"target >= {target:,.0f}/s{check}",
        ),
        Row(NAME, f"{label}, p50", p50, "ms"),
        Row(NAME, f"{label}, p99", p99, "ms", f"target < {TARGET_P99_MS:.0f} ms"),
    ]


def _requests(port: int, bodies: list[bytes]) -> list[bytes]:
    return [post(HOST, port, PATH, body) for body in bodies]


def _warm_then_measure(port: int, corpus: AppleCorpus, plan: Plan, seconds: float) -> Load:
    warm = corpus.bodies[: plan.warmup]
    run_load(HOST, port, _requests(port, warm), clients=CLIENTS, seconds=60)
    rest = _requests(port, corpus.bodies[plan.warmup :])
    return run_load(HOST, port, rest, clients=CLIENTS, seconds=seconds)


def _bound(directory: Path, corpus: AppleCorpus, plan: Plan) -> Load:
    command = uvicorn_command("benchmarks.trivial_app:app")
    with server_process(command, log=directory / "bound.log", ready_path="/") as port:
        return _warm_then_measure(port, corpus, plan, plan.seconds)


def _baseline(directory: Path, corpus: AppleCorpus, plan: Plan, root: Path) -> Load:
    environment = {
        ROOT: str(root),
        DATABASE: str(directory / "baseline.db"),
        BUNDLE_ID: corpus.bundle_id,
        APP_APPLE_ID: str(corpus.app_apple_id),
    }
    command = uvicorn_command("benchmarks.baseline_app:create_app", factory=True)
    log = directory / "baseline.log"
    with server_process(command, log=log, ready_path="/healthz", env=environment) as port:
        # The baseline is slow: a short warm-up, then a time-bound run over the same corpus.
        short = Plan(plan.seconds, plan.baseline_seconds, 50)
        return _warm_then_measure(port, corpus, short, plan.baseline_seconds)


def _engine(
    directory: Path, corpus: AppleCorpus, plan: Plan, root: Path, database: str
) -> Measured:
    url = sqlite_database(directory, "engine.db") if database == "sqlite" else database
    config = directory / "engine.toml"
    config.write_text(_config(url, corpus, root), encoding="utf-8")
    command = engine_command(config, workers=WORKERS)
    log = directory / "engine.log"
    with server_process(command, log=log, ready_path="/healthz") as port:
        load = _warm_then_measure(port, corpus, plan, plan.seconds)
    return Measured(load, WORKERS, _processed(url), plan.warmup + load.completed)


def _processed(url: str) -> int:
    engine = create_database_engine(url)
    try:
        with engine.connect() as connection:
            query = select(func.count()).select_from(inbox).where(inbox.c.status == "processed")
            return int(connection.execute(query).scalar_one())
    finally:
        engine.dispose()


def _config(url: str, corpus: AppleCorpus, root: Path) -> str:
    return f"""
[database]
url = "{url}"

[products."{corpus.product_id}"]
entitlements = ["premium"]
type = "auto_renewable"

[apple]
bundle_id = "{corpus.bundle_id}"
app_apple_id = {corpus.app_apple_id}
environments = ["Sandbox"]
root_certificates = ["{root}"]
"""


BENCHMARK = Benchmark(NAME, run)
