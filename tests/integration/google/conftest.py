"""One emulator server for the Google tests; a fresh emulated Google Play for each test.

The server is started once (a uvicorn thread on loopback); each test swaps in a new
`GooglePlay` with its own virtual clock, so tests share nothing but the port.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from store_adapters.google.catalog import PlanCatalog
from store_adapters.google.client import PlayClient, RetryPolicy
from store_adapters.google.credentials import AccessTokens, ServiceAccount
from store_adapters.google.gateway import PlayGateway
from store_adapters.google.oidc import JwksCache, PushAuthenticator
from store_adapters.google.push import PushReceiver
from store_emulator.clock import VirtualClock
from store_emulator.google.app import create_app
from store_emulator.google.keys import new_rsa_key
from store_emulator.google.play import CERTS_PATH, GooglePlay
from store_emulator.google.push import PushPublisher
from store_emulator.google.state import BasePlan, Offer, OfferPhase
from store_emulator.serving import BackgroundServer

PACKAGE = "com.example.app"
AUDIENCE = "https://iap.example.com/v1/notifications/google"
PUSH_ACCOUNT = "rtdn-push@example-project.iam.gserviceaccount.com"
START = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


class SwappableApp:
    """An ASGI app that forwards to whichever emulator the current test installed."""

    def __init__(self) -> None:
        self.app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


@pytest.fixture(scope="session")
def server() -> Iterator[tuple[BackgroundServer, SwappableApp]]:
    swappable = SwappableApp()
    background = BackgroundServer(swappable).start()
    try:
        yield background, swappable
    finally:
        background.stop()


@pytest.fixture(scope="session")
def rsa_keys() -> tuple[RSAPrivateKey, RSAPrivateKey]:
    """Two RSA keys generated once (push signing, service account): keygen is the slow part."""
    return new_rsa_key(), new_rsa_key()


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(START)


@pytest.fixture
def play(
    server: tuple[BackgroundServer, SwappableApp],
    clock: VirtualClock,
    rsa_keys: tuple[RSAPrivateKey, RSAPrivateKey],
) -> GooglePlay:
    play = GooglePlay(clock, PACKAGE, signing_key=rsa_keys[0])
    play.store.add_subscription_product(
        "premium",
        [BasePlan("monthly", "P1M", grace_period="P7D"), BasePlan("yearly", "P1Y")],
        [
            Offer("monthly", "trial", (OfferPhase("P7D", 1, free=True),)),
            Offer("monthly", "intro", (OfferPhase("P1M", 2),)),
        ],
    )
    play.store.add_subscription_product("premium_plus", [BasePlan("monthly", "P1M")])
    server[1].app = create_app(play)
    return play


@pytest.fixture
def base_url(server: tuple[BackgroundServer, SwappableApp]) -> str:
    return server[0].url


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


@dataclass
class Sleeps:
    """The client's `sleep`: records the delays instead of waiting."""

    delays: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def key_file(
    play: GooglePlay, base_url: str, tmp_path: Path, rsa_keys: tuple[RSAPrivateKey, ...]
) -> Path:
    return play.write_service_account(tmp_path, base_url, private_key=rsa_keys[1])


@pytest.fixture
def client(
    session: requests.Session,
    key_file: Path,
    clock: VirtualClock,
    base_url: str,
    sleeps: Sleeps,
) -> PlayClient:
    tokens = AccessTokens(ServiceAccount.from_file(key_file), session, clock)
    return PlayClient(
        session=session,
        tokens=tokens,
        package_name=PACKAGE,
        clock=clock,
        base_url=base_url,
        timeout=(2.0, 0.25),
        retry=RetryPolicy(attempts=5, base_delay=0.5, max_delay=8.0),
        sleep=sleeps,
    )


@pytest.fixture
def gateway(client: PlayClient, clock: VirtualClock) -> PlayGateway:
    return PlayGateway(client, PlanCatalog(client, clock), clock)


@pytest.fixture
def receiver(session: requests.Session, clock: VirtualClock, base_url: str) -> PushReceiver:
    keys = JwksCache(session, clock, url=base_url + CERTS_PATH)
    return PushReceiver(PushAuthenticator(keys, clock, AUDIENCE, PUSH_ACCOUNT), PACKAGE)


@pytest.fixture
def publisher(play: GooglePlay) -> PushPublisher:
    return PushPublisher(play, AUDIENCE, PUSH_ACCOUNT)
