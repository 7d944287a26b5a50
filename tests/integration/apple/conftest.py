"""The emulated App Store served over real HTTP on loopback, and clients pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests

from store_adapters.apple.client import AppStoreServerClient
from store_adapters.apple.retry import RetryPolicy
from store_adapters.apple.verify import SignedDataVerifier
from store_emulator.apple.emulator import AppleEmulator
from store_emulator.apple.store import Product
from store_emulator.clock import VirtualClock
from store_emulator.serving import BackgroundServer, serving

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class Sleeps(list[float]):
    """Records the waits a client asked for instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(START)


@pytest.fixture
def emulator(clock: VirtualClock) -> AppleEmulator:
    emulator = AppleEmulator(clock=clock, page_size=3)
    store = emulator.store
    store.add_product(
        Product(
            "premium.monthly", "auto_renewable", 9990, period=timedelta(days=30), group="premium"
        )
    )
    store.add_product(
        Product(
            "premium.yearly",
            "auto_renewable",
            99990,
            period=timedelta(days=365),
            group="premium",
            level=2,
        )
    )
    store.add_product(Product("lifetime", "non_consumable", 49990))
    store.add_product(Product("coins", "consumable", 990))
    return emulator


@pytest.fixture
def server(emulator: AppleEmulator) -> Iterator[BackgroundServer]:
    with serving(emulator.app()) as running:
        yield running


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as opened:
        yield opened


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def client(
    emulator: AppleEmulator, server: BackgroundServer, session: requests.Session, sleeps: Sleeps
) -> AppStoreServerClient:
    return AppStoreServerClient(
        session=session,
        environment="Production",
        sandbox_fallback=True,
        base_url=server.url,
        sleep=sleeps,
        retry=RetryPolicy(attempts=3, first_delay=0.5, max_retry_after=30),
        timeout=(2.0, 2.0),
        **emulator.client_credentials(),
    )


@pytest.fixture
def verifier(emulator: AppleEmulator, clock: VirtualClock) -> SignedDataVerifier:
    return SignedDataVerifier(
        root_certificates=[emulator.root_der],
        bundle_id=emulator.bundle_id,
        app_apple_id=emulator.app_apple_id,
        environments=("Production", "Sandbox"),
        clock=clock,
    )
