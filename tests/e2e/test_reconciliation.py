"""Reconciliation against the store emulator, with every webhook lost.

The engine (API and jobs) runs in this process on the emulator's virtual clock, so the
stores' histories (read by store time) and the engine's cursors agree; the store APIs are
reached over real HTTP. Nothing here reaches the engine as a webhook: a rule drops them all.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from requests.adapters import HTTPAdapter

from iap_engine.bootstrap import Wiring, build_app, wire
from iap_engine.settings import load_settings
from jobs.limits import LimitedSession, TokenBucket
from store_emulator.apple.faults import rate_limited, unavailable
from store_emulator.clock import VirtualClock
from store_emulator.configuration import to_toml
from store_emulator.emulator import StoreEmulator
from store_emulator.google.faults import Fault
from store_emulator.serving import BackgroundServer
from tests.e2e.scenarios import KEYS, TICK, Customer, World, parse
from tests.support.processes import cli

pytestmark = pytest.mark.slow
STORES = ["apple", "google"]


class FollowingClock:
    """The emulator's "wall clock" in these tests: its own virtual clock, so the engine (which
    runs on that clock too) and the store agree on transport times as well."""

    def __init__(self, start: datetime) -> None:
        self.start = start
        self.source: VirtualClock | None = None

    def now(self) -> datetime:
        return self.start if self.source is None else self.source.now()


@dataclass
class Address:
    url: str


@dataclass
class Reconciling:
    world: World
    wiring: Wiring
    config: Path

    def run_jobs(self) -> dict:
        return self.wiring.tasks(worker="test-worker").run_once()


@contextmanager
def reconciling(
    tmp_path: Path, database_url: str, *, session: requests.Session | None = None
) -> Iterator[Reconciling]:
    start = datetime.now(UTC) - timedelta(days=400)
    wall = FollowingClock(start)
    emulator = StoreEmulator(start=start, wall_clock=wall)
    wall.source = emulator.clock
    stores = BackgroundServer(emulator.app()).start()
    engine_api: BackgroundServer | None = None
    wiring: Wiring | None = None
    try:
        engine_port_placeholder = "http://127.0.0.1:0"
        emulator.set_targets(
            apple_url=f"{engine_port_placeholder}/v1/notifications/apple",
            google_url=f"{engine_port_placeholder}/v1/notifications/google",
            push_audience="https://engine.example/v1/notifications/google",
        )
        keys = "".join(
            f'[[auth.api_keys]]\nname = "{role}"\nrole = "{role}"\n'
            f'sha256 = "{hashlib.sha256(key.encode()).hexdigest()}"\n\n'
            for role, key in KEYS.items()
        )
        config = tmp_path / "engine.toml"
        config.write_text(
            f'[database]\nurl = "{database_url}"\n\n'
            + keys
            + "[jobs]\napple_requests_per_second = 500\ngoogle_requests_per_second = 500\n\n"
            + to_toml(emulator.engine_settings(stores.url, tmp_path / "keys")),
            encoding="utf-8",
        )
        wiring = wire(load_settings(config), clock=emulator.clock, session=session)
        engine_api = BackgroundServer(build_app(wiring)).start()
        # Every notification is lost on the way: the jobs alone must find out.
        emulator.add_rule("drop")
        yield Reconciling(World(emulator, Address(engine_api.url)), wiring, config)  # type: ignore[arg-type]
    finally:
        if engine_api is not None:
            engine_api.stop()
        if wiring is not None:
            wiring.close()
        stores.stop()


@pytest.fixture
def lost_webhooks(tmp_path: Path, fresh_database: Callable[[], str]) -> Iterator[Reconciling]:
    with reconciling(tmp_path, fresh_database()) as world:
        yield world


@pytest.mark.parametrize("store", STORES)
def test_without_webhooks_the_jobs_catch_up_on_everything(
    lost_webhooks: Reconciling, store: str
) -> None:
    w = lost_webhooks.world
    jobs = lost_webhooks.run_jobs

    # A month of renewals.
    renewing = Customer(w, f"renewing-{store}", store).buy()
    first_end = parse(renewing.subscription()["expires_at"])
    w.advance("P1M")
    jobs()
    renewed = renewing.subscription()
    assert len(renewed["periods"]) == 2
    assert parse(renewed["expires_at"]) > first_end
    assert renewing.entitled(first_end + timedelta(days=1))

    # A cancellation: seen by the next look at the store (history or re-check).
    renewing.cancel()
    w.advance("P8D")
    jobs()
    assert renewing.subscription()["auto_renew"] is False
    # ... and the expiry at the end of the paid period.
    paid_end = parse(renewing.subscription()["expires_at"])
    w.emulator.advance_to(paid_end + timedelta(hours=2))
    jobs()
    expired = renewing.subscription()
    assert expired["status"] == "expired"
    assert renewing.entitled(paid_end - TICK)
    assert not renewing.entitled(paid_end)

    # A billing failure with a grace period, then recovery.
    failing = Customer(w, f"failing-{store}", store).buy()
    due = parse(failing.subscription()["expires_at"])
    failing.payment(failing=True)
    w.emulator.advance_to(due + timedelta(days=2))
    jobs()
    assert failing.subscription()["status"] == "grace_period"
    assert failing.entitled(due + timedelta(days=1))
    failing.payment(failing=False)
    w.advance("P8D")
    jobs()
    recovered = failing.subscription()
    assert recovered["status"] == "active"
    for offset in (timedelta(hours=1), timedelta(days=2), timedelta(days=9)):
        assert failing.entitled(due + offset), offset

    # A refund of the current period.
    refunded = Customer(w, f"refunded-{store}", store).buy()
    w.advance("P3D")
    refunded.refund_current()
    # Stores index their histories a little late; the next run (cursor minus overlap) reads it.
    w.advance("PT15M")
    jobs()
    assert refunded.subscription()["status"] == "revoked"
    assert not refunded.entitled(w.now)


@pytest.mark.parametrize("store", STORES)
def test_a_deleted_account_is_reconciled_like_any_other(
    lost_webhooks: Reconciling, store: str
) -> None:
    w = lost_webhooks.world
    c = Customer(w, f"leaving-{store}", store).buy()
    erased = w.call("DELETE", f"/v1/users/{c.user}", "admin")
    assert len(erased["still_renewing"]) == 1
    w.advance("P1M")  # the store renews
    lost_webhooks.run_jobs()
    c.cancel()  # the customer cancels in the store
    w.advance("P8D")
    lost_webhooks.run_jobs()
    c.refund_current()  # and gets the month refunded
    w.advance("PT15M")
    lost_webhooks.run_jobs()

    (tracked,) = w.lookup(c.key)
    assert tracked["account_deleted"] is True
    assert len(tracked["periods"]) == 2
    assert tracked["auto_renew"] is False
    assert tracked["status"] == "revoked"
    assert tracked["periods"][-1]["revoked_at"] is not None

    shown = cli(lost_webhooks.config, "status", "--", c.key)
    assert shown.returncode == 0, shown.stderr
    assert "(account deleted)" in shown.stdout
    assert "auto-renew off" in shown.stdout
    assert "reconcile" in shown.stdout
    revoked = [line for line in shown.stdout.splitlines() if "revoked" in line]
    assert revoked, shown.stdout


class RecordingAdapter(HTTPAdapter):
    """Notes when each request reaches the transport (after the session's limits)."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[float] = []
        self._lock = threading.Lock()

    def send(self, request, *args, **kwargs):  # type: ignore[no-untyped-def]
        with self._lock:
            self.sent.append(time.monotonic())
        return super().send(request, *args, **kwargs)


def test_429_storms_and_5xx_bursts_slow_the_run_but_it_completes_within_the_rate(
    tmp_path: Path, fresh_database: Callable[[], str]
) -> None:
    rate = 40.0
    session = LimitedSession(TokenBucket(rate), concurrency=4)
    session.trust_env = False
    recorder = RecordingAdapter()
    session.mount("http://", recorder)
    with reconciling(tmp_path, fresh_database(), session=session) as world:
        w = world.world
        customers = [
            Customer(w, f"storm-{store}-{i}", store).buy() for store in STORES for i in range(25)
        ]
        w.advance("P1M")  # every one renewed, no webhook: all due
        emulator = w.emulator
        assert emulator.apple is not None and emulator.google is not None
        retry_at = emulator.now() + timedelta(seconds=1)
        emulator.apple.emulator.faults.plan(rate_limited(retry_at), times=12)
        emulator.apple.emulator.faults.plan(unavailable(), times=12)
        emulator.google.play.faults.add(
            Fault(status=429, retry_after="1", times=12, path_contains="subscriptionsv2"),
            Fault(status=503, times=12, path_contains="subscriptionsv2"),
        )
        recorder.sent.clear()
        results = world.run_jobs()

        due = results["due"]
        assert sum(due.values()) == len(customers)  # every due subscription was dealt with
        assert due["updated"] >= len(customers) - 4  # retries got through almost everywhere
        renewed = sum(len(c.periods()) == 2 for c in customers)
        assert renewed == due["updated"]
        # Whatever the storm, requests never came faster than the session allows: its
        # bucket holds `rate` tokens, so no one-second window sees more than twice the rate.
        sent = recorder.sent
        assert len(sent) > len(customers)  # the storms cost retries
        for i, start in enumerate(sent):
            in_window = sum(1 for t in sent[i:] if t < start + 1.0)
            assert in_window <= 2 * rate, (i, in_window)
