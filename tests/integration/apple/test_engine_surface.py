"""What the engine's use cases call: `build_apple_gateway` as `service.stores.AppleGateway`."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
import requests

from iap_engine.domain import EventKind, Status, Store
from iap_engine.metrics import Metrics
from iap_engine.service.errors import DeliveryRejected
from iap_engine.service.stores import AppleGateway as AppleGatewayPort
from iap_engine.settings import load_settings
from store_adapters.apple.gateway import AppleGateway, build_apple_gateway
from store_adapters.apple.verify import SignedDataVerifier
from store_emulator.apple import faults
from store_emulator.apple.emulator import AppleEmulator
from store_emulator.apple.store import AppleStore, millis
from store_emulator.clock import VirtualClock
from store_emulator.serving import BackgroundServer
from tests.integration.apple.test_gateway import receipt, write_config


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
def engine_gateway(
    tmp_path: Path,
    emulator: AppleEmulator,
    server: BackgroundServer,
    session: requests.Session,
    clock: VirtualClock,
    metrics: Metrics,
) -> AppleGateway:
    config = write_config(
        tmp_path,
        emulator,
        server,
        issuer_id=emulator.issuer_id,
        key_id=emulator.key_id,
        private_key_path="key.p8",
    )
    settings = load_settings(config, environ={})
    assert settings.apple is not None
    return build_apple_gateway(
        settings.apple, clock=clock, session=session, metrics=metrics, sleep=lambda _: None
    )


def test_it_is_the_port_the_use_cases_expect(engine_gateway: AppleGateway) -> None:
    port: AppleGatewayPort = engine_gateway
    assert port.notifications.store is Store.APP_STORE


def test_a_webhook_body_is_read(emulator: AppleEmulator, engine_gateway: AppleGateway) -> None:
    sent = emulator.store.subscribe("premium.monthly")
    body = json.dumps(sent.body).encode()
    reader = engine_gateway.notifications
    assert reader.delivery_id(body) == sent.notification_uuid
    read = reader.read(body)
    assert (read.store_type, read.store_subtype) == ("SUBSCRIBED", "INITIAL_BUY")
    (record,) = read.records
    assert record.event.kind is EventKind.PURCHASED


def test_unreadable_bodies_have_no_delivery_id(engine_gateway: AppleGateway) -> None:
    for body in (b"", b"{}", b'{"signedPayload": "x.y.z"}', b"\xff" * 10):
        assert engine_gateway.notifications.delivery_id(body) is None


def test_forged_and_foreign_deliveries_are_rejected_with_the_right_flag(
    emulator: AppleEmulator, engine_gateway: AppleGateway, clock: VirtualClock
) -> None:
    sent = emulator.store.subscribe("premium.monthly")
    forged = sent.signed_payload[:-2] + ("AA" if not sent.signed_payload.endswith("AA") else "QA")
    with pytest.raises(DeliveryRejected) as rejected:
        engine_gateway.notifications.read(json.dumps({"signedPayload": forged}).encode())
    assert rejected.value.authentication is True
    # Signed under the same trusted chain, for another app.
    other = AppleStore(
        clock=clock, signer=emulator.signer, bundle_id="com.example.other", app_apple_id=1
    )
    other.add_product(emulator.store.product("premium.monthly"))
    foreign = other.subscribe("premium.monthly")
    with pytest.raises(DeliveryRejected) as rejected:
        engine_gateway.notifications.read(json.dumps(foreign.body).encode())
    assert (rejected.value.reason, rejected.value.authentication) == ("wrong_app", False)


def test_a_thin_refund_is_completed_from_the_api(
    emulator: AppleEmulator,
    engine_gateway: AppleGateway,
    verifier: SignedDataVerifier,
    clock: VirtualClock,
) -> None:
    key = emulator.store.subscribe("premium.monthly").transaction_id or ""
    clock.advance(timedelta(days=30))
    emulator.store.renew(key)
    first = emulator.store.subscription(key).transactions[0]
    first.revocation_date = clock.now()
    first.revocation_reason = 0
    # A refund notification of the older transaction whose renewal info lacks renewalDate.
    store = emulator.store
    renewal = store.subscription(key).renewal_payload(clock.now())
    del renewal["renewalDate"]
    envelope = {
        "notificationType": "REFUND",
        "notificationUUID": "thin-refund",
        "signedDate": millis(clock.now()),
        "data": {
            "bundleId": store.bundle_id,
            "appAppleId": store.app_apple_id,
            "environment": "Sandbox",
            "status": 1,
            "signedTransactionInfo": store.signer.sign(first.payload(store.bundle_id, clock.now())),
            "signedRenewalInfo": store.signer.sign(renewal),
        },
    }
    body = json.dumps({"signedPayload": store.signer.sign(envelope)}).encode()
    read = engine_gateway.notifications.read(body)
    refund, current = read.records
    assert refund.event.kind is EventKind.REFUNDED and refund.event.state is None
    assert current.event.kind is EventKind.REFRESHED
    assert current.event.state is not None
    assert current.event.state.expires_at == clock.now() + timedelta(days=30)


def test_from_signed_transaction_with_the_api(
    emulator: AppleEmulator, engine_gateway: AppleGateway
) -> None:
    key = emulator.store.subscribe("premium.monthly").transaction_id or ""
    emulator.store.set_auto_renew(key, False)
    signed = emulator.store.signed_transaction(emulator.store.subscription(key).latest)
    verified = engine_gateway.from_signed_transaction(signed)
    assert verified.partial_state is False
    purchase, current = verified.records
    assert purchase.event.kind is EventKind.PURCHASED and purchase.event.state is None
    assert current.event.state is not None and current.event.state.auto_renew is False


def test_from_signed_transaction_when_apple_is_down(
    emulator: AppleEmulator, engine_gateway: AppleGateway, metrics: Metrics
) -> None:
    key = emulator.store.subscribe("premium.monthly").transaction_id or ""
    signed = emulator.store.signed_transaction(emulator.store.subscription(key).latest)
    emulator.faults.plan(faults.unavailable(), times=20)
    verified = engine_gateway.from_signed_transaction(signed)
    assert verified.partial_state is True
    (record,) = verified.records
    assert record.event.state is not None and record.event.state.status is Status.ACTIVE
    assert metrics.store_calls.value("app_store", "unavailable") >= 1


def test_from_transaction_id_keeps_to_that_purchase(
    emulator: AppleEmulator, engine_gateway: AppleGateway, metrics: Metrics
) -> None:
    emulator.store.buy("lifetime", customer="c-5")
    key = emulator.store.subscribe("premium.monthly", customer="c-5").transaction_id or ""
    verified = engine_gateway.from_transaction_id(key)
    assert {r.store_key for r in verified.records} == {key}
    assert metrics.store_calls.value("app_store", "ok") >= 2
    assert metrics.store_calls.value("app_store", "fallback") >= 1  # sandbox purchase


def test_from_receipt_answers_with_the_latest_purchase(
    emulator: AppleEmulator, engine_gateway: AppleGateway, clock: VirtualClock
) -> None:
    emulator.store.buy("lifetime", customer="c-6")
    clock.advance(timedelta(days=3))
    key = emulator.store.subscribe("premium.monthly", customer="c-6").transaction_id or ""
    first = emulator.store.purchases[-1].transaction_id
    verified = engine_gateway.from_receipt(
        receipt(emulator.bundle_id, "ProductionSandbox", [first])
    )
    assert verified.records[0].store_key == key
    assert {r.store_key for r in verified.records} == {key, first}


def test_original_ids_for_an_order(emulator: AppleEmulator, engine_gateway: AppleGateway) -> None:
    emulator.store.buy("lifetime", environment="Production")
    purchase = emulator.store.purchases[-1]
    assert engine_gateway.original_ids_for_order(purchase.order_id) == (purchase.transaction_id,)
    assert engine_gateway.original_ids_for_order("MQUNKNOWN") == ()
