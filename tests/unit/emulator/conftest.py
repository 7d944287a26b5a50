"""A `StoreEmulator` on a fixed past start, and readers for what it emits (no network)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from store_emulator.emulator import AppleOptions, GoogleOptions, StoreEmulator
from store_emulator.google.keys import new_rsa_key
from store_emulator.message import Message

START = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
WALL = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MONTHLY = "com.example.premium.monthly"
YEARLY = "com.example.premium.yearly"
BASIC = "com.example.basic.monthly"


class FixedClock:
    def __init__(self, instant: datetime = WALL) -> None:
        self.instant = instant

    def now(self) -> datetime:
        return self.instant


@pytest.fixture(scope="session")
def rsa_key() -> RSAPrivateKey:
    return new_rsa_key()


Make = Callable[..., StoreEmulator]


@pytest.fixture
def make(rsa_key: RSAPrivateKey) -> Make:
    def build(
        *, apple: AppleOptions | bool = True, google: GoogleOptions | bool = True
    ) -> StoreEmulator:
        if google is True:
            google = GoogleOptions(push_signing_key=rsa_key, service_account_key=rsa_key)
        return StoreEmulator(start=START, apple=apple, google=google, wall_clock=FixedClock())

    return build


@pytest.fixture
def emulator(make: Make) -> StoreEmulator:
    return make()


def jws_payload(token: str) -> dict[str, Any]:
    segment = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    )
    return decoded


def apple_payload(message: Message) -> dict[str, Any]:
    """An Apple notification's payload with its nested JWS decoded (no verification)."""
    payload = jws_payload(json.loads(message.body)["signedPayload"])
    data = payload["data"]
    for name in ("signedTransactionInfo", "signedRenewalInfo"):
        if name in data:
            data[name] = jws_payload(data[name])
    return payload


def rtdn(message: Message) -> dict[str, Any]:
    """A Pub/Sub push body's DeveloperNotification."""
    envelope = json.loads(message.body)
    decoded: dict[str, Any] = json.loads(base64.b64decode(envelope["message"]["data"]))
    return decoded


def kinds(messages: list[Message]) -> list[tuple[str, str | None]]:
    return [(m.notification_type, m.subtype) for m in messages]


def millis(instant: datetime) -> int:
    return int(instant.timestamp() * 1000)
