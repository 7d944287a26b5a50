"""What the emulator emits and answers, read by the engine's own adapters (a smoke test).

The engine is configured from `StoreEmulator.engine_settings` alone and runs on real time,
as it would against a served emulator: the push tokens, the API bearer JWTs and the OAuth
assertions cross the wall clock, everything the stores sign carries store time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import requests

from iap_engine.domain import EventKind, Status
from iap_engine.settings import AppleSettings, GoogleSettings
from store_adapters.apple.gateway import AppleGateway
from store_adapters.google.factory import google_adapter
from store_emulator.clock import SystemClock
from store_emulator.emulator import StoreEmulator
from store_emulator.serving import BackgroundServer, serving
from tests.integration.emulator.conftest import Receiver

MONTHLY = "com.example.premium.monthly"
BASIC = "com.example.basic.monthly"
K = EventKind


@pytest.fixture
def served(emulator: StoreEmulator) -> Iterator[BackgroundServer]:
    with serving(emulator.app()) as server:
        yield server


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as opened:
        opened.trust_env = False
        yield opened


def test_the_engine_reads_the_app_store_journey(
    emulator: StoreEmulator,
    served: BackgroundServer,
    receiver: Receiver,
    session: requests.Session,
    tmp_path: Path,
):
    settings = AppleSettings(**emulator.engine_settings(served.url, tmp_path)["apple"])
    gateway = AppleGateway.from_settings(settings, session=session, clock=SystemClock())
    apple = emulator.apple
    assert apple is not None
    key = apple.subscribe(MONTHLY, customer="c-1", app_account_token="u-1").original_transaction_id
    assert key is not None
    emulator.advance("P1M")
    apple.change_product(key, BASIC)
    apple.set_payment(key, failing=True)
    emulator.advance("P1M")
    apple.set_payment(key, failing=False)
    apple.refund_current(key)
    emulator.deliver_pending()

    records = [
        gateway.notification(json.loads(body)["signedPayload"]).record
        for body in receiver.bodies("apple")
    ]

    assert [r.event.kind for r in records if r is not None] == [
        K.PURCHASED,
        K.RENEWED,
        K.RENEWAL_PRODUCT_CHANGED,
        K.GRACE_PERIOD_STARTED,
        K.RECOVERED,
        K.REFUNDED,
    ]
    assert {r.store_key for r in records if r is not None} == {key}
    assert records[0] is not None and records[0].account_hint == "u-1"
    (now,) = gateway.subscription(key)
    assert now.event.state is not None
    assert (now.event.state.status, now.event.state.product_id) == (Status.REVOKED, BASIC)
    (history,) = gateway.history(key)
    assert [p.product_id for p in history.event.periods] == [MONTHLY, MONTHLY, BASIC]
    (refunded,) = gateway.refunds(key)
    assert [r.revoked_at for r in refunded.event.revocations] == [emulator.now()]
    page = gateway.notification_history(
        emulator.now() - timedelta(days=90), emulator.now() + timedelta(minutes=1)
    )
    assert len(page.items) == 6 and all(item.error is None for item in page.items)


def test_the_engine_reads_the_play_journey(
    emulator: StoreEmulator,
    served: BackgroundServer,
    receiver: Receiver,
    session: requests.Session,
    tmp_path: Path,
):
    settings = GoogleSettings(**emulator.engine_settings(served.url, tmp_path)["google"])
    adapter = google_adapter(settings, session, SystemClock())
    google = emulator.google
    assert google is not None
    seen: list[tuple[EventKind, Status | None]] = []
    read_so_far = [0]

    def read() -> None:
        """Read the pushes that arrived since the last look, as the engine would then."""
        emulator.deliver_pending()
        pushes = [r for r in receiver.requests if r.path == "google"]
        for request in pushes[read_so_far[0] :]:
            adapter.authenticate_push(request.authorization)  # the OIDC token, on real time
            for record in adapter.notifications.read(request.body).records:
                state = record.event.state
                seen.append((record.event.kind, state.status if state else None))
        read_so_far[0] = len(pushes)

    token = google.purchase(BASIC, "monthly", account_id="u-1")
    read()
    google.set_payment(token, failing=True)
    emulator.advance("P1M")
    read()
    emulator.advance(timedelta(days=10))  # past the 7-day grace period: account hold
    read()
    google.set_payment(token, failing=False)
    read()
    upgraded = google.change_product(token, MONTHLY, "monthly")
    read()
    google.revoke(upgraded)
    read()

    assert seen == [
        (K.PURCHASED, Status.ACTIVE),
        (K.GRACE_PERIOD_STARTED, Status.GRACE_PERIOD),
        (K.RENEWAL_FAILED, Status.BILLING_RETRY),
        (K.RECOVERED, Status.ACTIVE),
        (K.PRODUCT_CHANGED, Status.ACTIVE),
        (K.REVOKED, Status.EXPIRED),
        (K.REFUNDED, Status.EXPIRED),
    ]
    gateway = adapter.gateway
    assert gateway is not None
    voided = list(gateway.all_voided(emulator.now() - timedelta(days=1)))
    assert [v.record.store_key for v in voided] == [upgraded]


def test_what_the_engine_does_through_the_store_apis_is_notified(
    emulator: StoreEmulator,
    served: BackgroundServer,
    receiver: Receiver,
    session: requests.Session,
    tmp_path: Path,
):
    settings = emulator.engine_settings(served.url, tmp_path)
    apple = AppleGateway.from_settings(
        AppleSettings(**settings["apple"]), session=session, clock=SystemClock()
    )
    play = google_adapter(GoogleSettings(**settings["google"]), session, SystemClock()).gateway
    assert play is not None and emulator.google is not None
    token = emulator.google.purchase(MONTHLY, "monthly")
    emulator.deliver_pending()

    play.client.cancel_subscription(token)
    apple.request_test_notification()
    emulator.deliver_pending()

    assert [a.message.notification_type for a in emulator.courier.attempts] == [
        "SUBSCRIPTION_PURCHASED",
        "SUBSCRIPTION_CANCELED",
        "TEST",
    ]
    assert all(a.ok for a in emulator.courier.attempts)
