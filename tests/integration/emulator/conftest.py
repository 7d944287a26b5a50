"""A webhook receiver on loopback, and an emulator whose clock starts in the recent past.

The receiver records every request and answers from a script of statuses (200 once the script
runs out). Store time starts 120 days before real time, so that what the stores sign is never
in the engine's future; the wall clock is real, as the engine's is.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from fastapi import FastAPI, Request
from fastapi.responses import Response

from store_emulator.emulator import AppleOptions, GoogleOptions, StoreEmulator
from store_emulator.google.keys import new_rsa_key
from store_emulator.serving import BackgroundServer, serving


@dataclass(frozen=True)
class Received:
    path: str
    body: bytes
    authorization: str | None


@dataclass
class Receiver:
    url: str = ""
    requests: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/hooks/{store}")
        async def hook(store: str, request: Request) -> Response:
            self.requests.append(
                Received(store, await request.body(), request.headers.get("authorization"))
            )
            return Response(status_code=self.statuses.pop(0) if self.statuses else 200)

        return app

    def bodies(self, store: str) -> list[bytes]:
        return [r.body for r in self.requests if r.path == store]

    def reset(self) -> None:
        self.requests.clear()
        self.statuses.clear()


@pytest.fixture(scope="session")
def receiver_server() -> Iterator[tuple[Receiver, BackgroundServer]]:
    receiver = Receiver()
    with serving(receiver.app()) as server:
        receiver.url = server.url
        yield receiver, server


@pytest.fixture
def receiver(receiver_server: tuple[Receiver, BackgroundServer]) -> Iterator[Receiver]:
    found = receiver_server[0]
    found.reset()
    yield found
    found.reset()


@pytest.fixture(scope="session")
def rsa_key() -> RSAPrivateKey:
    return new_rsa_key()


@pytest.fixture
def start() -> datetime:
    return (datetime.now(UTC) - timedelta(days=120)).replace(microsecond=0)


def build(
    start: datetime,
    rsa_key: RSAPrivateKey,
    receiver: Receiver,
    *,
    apple: AppleOptions | None = None,
) -> StoreEmulator:
    emulator = StoreEmulator(
        start=start,
        apple=apple or AppleOptions(),
        google=GoogleOptions(push_signing_key=rsa_key, service_account_key=rsa_key),
    )
    emulator.set_targets(
        apple_url=receiver.url + "/hooks/apple", google_url=receiver.url + "/hooks/google"
    )
    return emulator


@pytest.fixture
def emulator(start: datetime, rsa_key: RSAPrivateKey, receiver: Receiver) -> StoreEmulator:
    return build(start, rsa_key, receiver)


@pytest.fixture
def production(start: datetime, rsa_key: RSAPrivateKey, receiver: Receiver) -> StoreEmulator:
    """An emulator whose App Store is Production (where Apple retries deliveries)."""
    return build(start, rsa_key, receiver, apple=AppleOptions(environment="Production"))
