"""Several `iap-engine worker` processes on one PostgreSQL database, against the emulator.

- Three workers over 10,000 due subscriptions: each is fetched exactly once in the cycle
  (counted by the emulator).
- Killing one worker mid-cycle delays its share (until its leases expire) but loses none.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from iap_engine.persistence.database import create_database_engine
from iap_engine.persistence.tables import events, subscription_tokens, subscriptions
from store_emulator.configuration import to_toml
from store_emulator.emulator import StoreEmulator
from store_emulator.serving import BackgroundServer
from tests.e2e.scenarios import PREMIUM
from tests.support.databases import postgres_server_url, scratch_postgres

pytestmark = pytest.mark.slow

SUBSCRIPTIONS_PATH = (
    "/androidpublisher/v3/applications/{package}/purchases/subscriptionsv2/tokens/{token}"
)


@dataclass
class Fleet:
    emulator: StoreEmulator
    database_url: str
    config: Path
    tokens: list[str]
    logs: Path

    def fetches(self, token: str) -> int:
        assert self.emulator.google is not None
        path = SUBSCRIPTIONS_PATH.format(
            package=self.emulator.google.play.package_name, token=token
        )
        return self.emulator.google.play.call_counts[f"GET {path}"]

    def still_due(self) -> int:
        engine = create_database_engine(self.database_url)
        try:
            with engine.connect() as connection:
                return connection.execute(
                    select(func.count())
                    .select_from(subscriptions)
                    .where(subscriptions.c.next_check_at <= datetime.now(UTC))
                ).scalar_one()
        finally:
            engine.dispose()

    def reconciliations(self) -> dict[int, int]:
        """How many subscriptions have n reconciliation entries on their timeline, by n
        (0 included: those with none)."""
        engine = create_database_engine(self.database_url)
        try:
            with engine.connect() as connection:
                per_subscription = (
                    select(events.c.subscription_id, func.count().label("n"))
                    .where(events.c.source == "reconcile")
                    .group_by(events.c.subscription_id)
                    .subquery()
                )
                counts = connection.execute(
                    select(per_subscription.c.n, func.count()).group_by(per_subscription.c.n)
                ).all()
        finally:
            engine.dispose()
        found = {n: count for n, count in counts}
        missing = len(self.tokens) - sum(found.values())
        return {**found, 0: missing} if missing else found

    def leases_of(self, worker: subprocess.Popen[bytes]) -> list[datetime]:
        """When the leases `worker` holds on unfinished checks expire (its name holds its pid)."""
        engine = create_database_engine(self.database_url)
        try:
            with engine.connect() as connection:
                return list(
                    connection.execute(
                        select(subscriptions.c.lease_expires_at)
                        .where(subscriptions.c.lease_owner.like(f"%:{worker.pid}:%"))
                        .where(subscriptions.c.next_check_at <= datetime.now(UTC))
                    ).scalars()
                )
        finally:
            engine.dispose()

    def worker_warnings(self) -> list[str]:
        return [
            line
            for log in sorted(self.logs.glob("w*.log"))
            for line in log.read_text(encoding="utf-8", errors="replace").splitlines()
            if '"level": "warning"' in line or '"level": "error"' in line
        ][:20]

    def start_worker(self, name: str) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("ab")
        return subprocess.Popen(
            [sys.executable, "-m", "iap_engine.cli", "worker", "--config", str(self.config)],
            stdout=log,
            stderr=log,
            env={**os.environ},
        )


@contextmanager
def fleet(tmp_path: Path, count: int, *, lease_seconds: int) -> Iterator[Fleet]:
    server_url = postgres_server_url()
    if server_url is None:
        pytest.skip("the multi-worker tests need IAP_ENGINE_TEST_POSTGRES_URL")
    emulator = StoreEmulator(start=datetime.now(UTC) - timedelta(days=60), apple=False)
    assert emulator.google is not None
    tokens = [emulator.google.purchase(PREMIUM, "monthly") for _ in range(count)]
    server = BackgroundServer(emulator.app()).start()
    try:
        with scratch_postgres(server_url) as database_url:
            seed(database_url, tokens, emulator.now())
            config = tmp_path / "workers.toml"
            config.write_text(
                f'[database]\nurl = "{database_url}"\n\n'
                "[jobs]\nreconcile_every_seconds = 1\nhistory_every_seconds = 3600\n"
                f"inbox_every_seconds = 3600\nbatch_size = 100\nlease_seconds = {lease_seconds}\n"
                "store_concurrency = 4\ngoogle_requests_per_second = 100000\n\n"
                + to_toml(emulator.engine_settings(server.url, tmp_path / "keys")),
                encoding="utf-8",
            )
            yield Fleet(emulator, database_url, config, tokens, tmp_path)
    finally:
        server.stop()


def seed(database_url: str, tokens: list[str], bought: datetime) -> None:
    """Subscriptions the engine knows and whose check is due now, as after a quiet month."""
    now = datetime.now(UTC)
    rows, token_rows = [], []
    for token in tokens:
        subscription_id = uuid.uuid4().hex
        rows.append(
            {
                "id": subscription_id, "store": "play_store", "environment": "sandbox",
                "store_key": token, "product_id": PREMIUM, "status": "active",
                "auto_renew": True, "expires_at": bought + timedelta(days=30),
                "last_store_time": bought, "account_deleted": False, "version": 1,
                "created_at": now, "updated_at": now, "next_check_at": now - timedelta(hours=1),
            }
        )  # fmt: skip
        token_rows.append(
            {"store": "play_store", "token": token, "subscription_id": subscription_id,
             "created_at": now}
        )  # fmt: skip
    engine = create_database_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(insert(subscriptions), rows)
            connection.execute(insert(subscription_tokens), token_rows)
    finally:
        engine.dispose()


def wait_until(condition, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def stop(workers: list[subprocess.Popen[bytes]]) -> None:
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()


def test_three_workers_fetch_each_due_subscription_exactly_once(tmp_path: Path) -> None:
    # A lease far longer than any batch takes: claims only ever end by being finished.
    with fleet(tmp_path, 10_000, lease_seconds=600) as world:
        workers = [world.start_worker(f"w{i}") for i in range(3)]
        try:
            wait_until(lambda: world.still_due() == 0, 300, "every subscription to be checked")
        finally:
            stop(workers)
        # Each subscription was taken by exactly one worker and merged once in the cycle ...
        reconciled = world.reconciliations()
        assert reconciled == {1: len(world.tokens)}, (reconciled, world.worker_warnings())
        # ... and reached the store: once, but for a transport retry after a timeout (the
        # same worker asking again while the machine is saturated), rare and bounded.
        counts = [world.fetches(token) for token in world.tokens]
        assert min(counts) == 1
        assert sum(counts) - len(counts) <= 10, {n: counts.count(n) for n in set(counts)}
        assert [w.returncode for w in workers] == [0, 0, 0]  # SIGTERM: a graceful exit


def test_a_killed_worker_delays_its_share_but_loses_none(tmp_path: Path) -> None:
    # A short lease, so the dead worker's claims lapse soon.
    with fleet(tmp_path, 3_000, lease_seconds=15) as world:
        workers = [world.start_worker(f"w{i}") for i in range(3)]
        try:
            wait_until(lambda: world.still_due() < 2_000, 120, "the cycle to get under way")
            workers[0].kill()  # dies holding leases, mid-batch
            orphaned = world.leases_of(workers[0])
            wait_until(lambda: world.still_due() == 0, 300, "the others to finish its share")
            finished_at = datetime.now(UTC)
        finally:
            stop(workers)
        assert orphaned, "the killed worker held no leases"
        # Its share waited for its leases to lapse ...
        assert finished_at >= max(orphaned)
        counts = [world.fetches(token) for token in world.tokens]
        assert min(counts) >= 1  # ... and none of it was lost.
        # Only what the dead worker had claimed and not finished is fetched again.
        assert sum(counts) - len(counts) <= len(orphaned) + 10  # (+ rare transport retries)
