"""AppleGateway end to end: emulator answers, verified and normalized into StoreRecords."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from pathlib import Path

import pytest
import requests

from iap_engine.domain import EventKind, ProductType, Status, StoreRecord
from iap_engine.service.errors import NotConfigured
from iap_engine.settings import load_settings
from store_adapters.apple.client import AppStoreServerClient
from store_adapters.apple.errors import AppleApiRejected, Reason, VerificationError
from store_adapters.apple.gateway import AppleGateway
from store_adapters.apple.notifications import signed_payload_of
from store_adapters.apple.reconcile import AppleNotificationHistory
from store_adapters.apple.verify import SignedDataVerifier
from store_emulator.apple.emulator import AppleEmulator
from store_emulator.apple.store import Notification
from store_emulator.clock import VirtualClock
from store_emulator.serving import BackgroundServer


@pytest.fixture
def gateway(verifier: SignedDataVerifier, client: AppStoreServerClient) -> AppleGateway:
    return AppleGateway(verifier=verifier, client=client)


def test_a_webhook_body(emulator: AppleEmulator, gateway: AppleGateway) -> None:
    sent = emulator.store.subscribe("premium.monthly", app_account_token="u-7")
    body = json.dumps(sent.body).encode()
    notification = gateway.notification(signed_payload_of(body))
    assert notification.info.delivery_id == sent.notification_uuid
    assert notification.info.notification_type == "SUBSCRIBED"
    assert notification.info.store_key == sent.transaction_id
    record = notification.record
    assert record is not None
    assert record.event.kind is EventKind.PURCHASED
    assert record.account_hint == "u-7"


@pytest.mark.parametrize("body", [b"", b"[]", b'{"signedPayload": null}', b"{" * 10])
def test_bad_webhook_bodies_are_malformed(body: bytes) -> None:
    with pytest.raises(VerificationError) as rejected:
        signed_payload_of(body)
    assert rejected.value.reason_code is Reason.MALFORMED


def test_subscription_state_from_the_api(
    emulator: AppleEmulator, gateway: AppleGateway, clock: VirtualClock
) -> None:
    sent = emulator.store.subscribe("premium.monthly", environment="Production")
    key = sent.transaction_id or ""
    emulator.store.set_auto_renew(key, False)
    (record,) = gateway.subscription(key)
    state = record.event.state
    assert state is not None
    assert record.event.kind is EventKind.REFRESHED
    assert (state.status, state.auto_renew) == (Status.ACTIVE, False)
    assert state.expires_at == clock.now() + timedelta(days=30)


def test_a_transaction_of_a_subscription_brings_its_status(
    emulator: AppleEmulator, gateway: AppleGateway
) -> None:
    key = emulator.store.subscribe("premium.monthly", environment="Sandbox").transaction_id or ""
    records = gateway.transaction(key)
    assert [r.event.state is None for r in records] == [True, False]
    assert records[1].event.state is not None
    assert records[1].event.state.auto_renew is True


def test_a_one_time_purchase(emulator: AppleEmulator, gateway: AppleGateway) -> None:
    emulator.store.buy("lifetime", environment="Production")
    transaction_id = emulator.store.purchases[-1].transaction_id
    (record,) = gateway.transaction(transaction_id)
    assert record.product_type is ProductType.NON_CONSUMABLE
    assert record.event.state is not None
    assert record.event.state.status is Status.ACTIVE
    assert record.event.periods[0].ends_at is None


def test_the_whole_customer(
    emulator: AppleEmulator, gateway: AppleGateway, clock: VirtualClock
) -> None:
    key = emulator.store.subscribe("premium.monthly", customer="c-9").transaction_id or ""
    for _ in range(4):
        clock.advance(timedelta(days=30))
        emulator.store.renew(key)
    emulator.store.buy("coins", customer="c-9")
    records = gateway.customer(key)
    by_key: dict[str, list[StoreRecord]] = {}
    for record in records:
        by_key.setdefault(record.store_key, []).append(record)
    history, status = by_key[key]
    assert len(history.event.periods) == 5
    assert status.event.state is not None
    (coins,) = [r for k, rs in by_key.items() if k != key for r in rs]
    assert coins.product_type is ProductType.CONSUMABLE


def test_refunds(emulator: AppleEmulator, gateway: AppleGateway, clock: VirtualClock) -> None:
    key = emulator.store.subscribe("premium.monthly").transaction_id or ""
    clock.advance(timedelta(days=30))
    renewal = emulator.store.renew(key).transaction_id or ""
    emulator.store.refund(renewal, reason=1)
    (record,) = gateway.refunds(key)
    assert record.event.kind is EventKind.REFUNDED
    (revocation,) = record.event.revocations
    assert revocation.transaction_id == renewal
    assert revocation.revoked_at == clock.now()


def test_order_lookup(emulator: AppleEmulator, gateway: AppleGateway) -> None:
    emulator.store.buy("lifetime", environment="Production")
    (record,) = gateway.order(emulator.store.purchases[-1].order_id)
    assert record.event.periods[0].product_id == "lifetime"
    with pytest.raises(AppleApiRejected) as rejected:
        gateway.order("MQNOPE")
    assert rejected.value.reason == "invalid_order_id"


def test_notification_history_is_verified_entry_by_entry(
    emulator: AppleEmulator, gateway: AppleGateway, clock: VirtualClock
) -> None:
    start = clock.now()
    key = emulator.store.subscribe("premium.monthly").transaction_id or ""
    clock.advance(timedelta(days=30))
    emulator.store.renew(key)
    good = emulator.store.notifications[-1]
    forged = good.signed_payload[:-4] + (
        "AAAA" if not good.signed_payload.endswith("AAAA") else "BBBB"
    )
    emulator.store.notifications.append(
        Notification(
            notification_uuid="forged",
            notification_type="DID_RENEW",
            subtype=None,
            signed_date=clock.now(),
            environment="Sandbox",
            signed_payload=forged,
        )
    )
    end = clock.now() + timedelta(seconds=1)
    page = gateway.notification_history(start, end, environment="Sandbox")
    assert page.has_more is False
    kinds = [
        item.notification.record.event.kind
        if item.notification and item.notification.record
        else None
        for item in page.items
    ]
    assert kinds == [EventKind.PURCHASED, EventKind.RENEWED, None]
    assert page.items[-1].error is not None
    assert page.items[-1].error.reason_code in (Reason.INVALID_SIGNATURE, Reason.MALFORMED)
    assert gateway.environments == ("Production", "Sandbox")


def test_reconciliation_reads_the_history_as_webhook_bodies_left_to_the_inbox(
    emulator: AppleEmulator, gateway: AppleGateway, clock: VirtualClock
) -> None:
    start = clock.now()
    key = emulator.store.subscribe("premium.monthly").transaction_id or ""
    for _ in range(3):
        clock.advance(timedelta(days=30))
        emulator.store.renew(key)
    source = AppleNotificationHistory(gateway, "Sandbox")
    end = clock.now() + timedelta(seconds=1)
    first = source.page(start, end, None)
    assert first.next_token is not None  # the emulator pages by 3
    second = source.page(start, end, first.next_token)
    assert second.next_token is None
    sent = [n.signed_payload for n in emulator.store.notifications if n.environment == "Sandbox"]
    assert len(sent) == 4
    assert [signed_payload_of(body) for body in (*first.deliveries, *second.deliveries)] == sent
    # The inbox verifies each body it has not seen; verifying here too would double that.
    assert gateway.verifier.chain_validations == 0


def test_request_a_test_notification(gateway: AppleGateway, emulator: AppleEmulator) -> None:
    assert gateway.request_test_notification()
    assert emulator.store.notifications[-1].notification_type == "TEST"


# -- receipts ------------------------------------------------------------------------------


def der(tag: int, content: bytes) -> bytes:
    length = len(content)
    if length < 0x80:
        return bytes([tag, length]) + content
    size = (length.bit_length() + 7) // 8
    return bytes([tag, 0x80 | size]) + length.to_bytes(size, "big") + content


def attribute(kind: int, value: bytes) -> bytes:
    return der(0x30, der(0x02, kind.to_bytes(2, "big")) + der(0x02, b"\x01") + der(0x04, value))


def utf8(text: str) -> bytes:
    return der(0x0C, text.encode())


def receipt(bundle_id: str, receipt_type: str, transaction_ids: list[str]) -> str:
    """A minimal app receipt: PKCS#7 signedData around a receipt payload (unsigned)."""
    purchases = b"".join(
        attribute(17, der(0x31, attribute(1703, utf8(t)) + attribute(1705, utf8(t))))
        for t in transaction_ids
    )
    payload = der(
        0x31, attribute(0, utf8(receipt_type)) + attribute(2, utf8(bundle_id)) + purchases
    )
    signed_data_oid = bytes.fromhex("06092a864886f70d010702")
    data_oid = bytes.fromhex("06092a864886f70d010701")
    content = der(0x30, data_oid + der(0xA0, der(0x04, payload)))
    signed_data = der(0x30, der(0x02, b"\x01") + der(0x31, b"") + content + der(0x31, b""))
    return base64.b64encode(der(0x30, signed_data_oid + der(0xA0, signed_data))).decode()


def test_a_receipt_resolves_through_the_api(emulator: AppleEmulator, gateway: AppleGateway) -> None:
    key = emulator.store.subscribe("premium.monthly").transaction_id or ""
    records = gateway.receipt(receipt(emulator.bundle_id, "ProductionSandbox", [key]))
    assert {r.store_key for r in records} == {key}
    assert any(r.event.state is not None for r in records)


def test_a_receipt_of_another_app_is_wrong_app(gateway: AppleGateway) -> None:
    with pytest.raises(VerificationError) as rejected:
        gateway.receipt(receipt("com.example.other", "Production", ["1"]))
    assert rejected.value.reason_code is Reason.WRONG_APP


def test_an_empty_receipt_has_no_records(emulator: AppleEmulator, gateway: AppleGateway) -> None:
    assert gateway.receipt(receipt(emulator.bundle_id, "Production", [])) == []


def test_an_xcode_receipt_cannot_be_looked_up(
    emulator: AppleEmulator, clock: VirtualClock, client: AppStoreServerClient
) -> None:
    verifier = SignedDataVerifier(
        root_certificates=[emulator.root_der],
        bundle_id=emulator.bundle_id,
        app_apple_id=None,
        environments=("Sandbox", "Xcode"),
        clock=clock,
    )
    gateway = AppleGateway(verifier=verifier, client=client)
    with pytest.raises(AppleApiRejected) as rejected:
        gateway.receipt(receipt(emulator.bundle_id, "Xcode", ["0"]))
    assert rejected.value.reason == "local_receipt"


# -- from settings -------------------------------------------------------------------------


def write_config(
    tmp_path: Path, emulator: AppleEmulator, server: BackgroundServer, **keys: str
) -> Path:
    (tmp_path / "root.der").write_bytes(emulator.root_der)
    (tmp_path / "key.p8").write_bytes(emulator.private_key_pem)
    lines = [
        "[apple]",
        f'bundle_id = "{emulator.bundle_id}"',
        f"app_apple_id = {emulator.app_apple_id}",
        'environments = ["Production", "Sandbox"]',
        'root_certificates = ["root.der"]',
        f'api_base_url = "{server.url}"',
        *(f'{k} = "{v}"' for k, v in keys.items()),
    ]
    path = tmp_path / "config.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_from_settings_with_credentials(
    tmp_path: Path,
    emulator: AppleEmulator,
    server: BackgroundServer,
    session: requests.Session,
    clock: VirtualClock,
) -> None:
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
    gateway = AppleGateway.from_settings(settings.apple, session=session, clock=clock)
    key = emulator.store.subscribe("premium.monthly").transaction_id or ""
    (record,) = gateway.subscription(key)  # found in Sandbox after Production's 4040010
    assert record.environment == "sandbox"


def test_from_settings_without_credentials_still_verifies(
    tmp_path: Path,
    emulator: AppleEmulator,
    server: BackgroundServer,
    session: requests.Session,
    clock: VirtualClock,
) -> None:
    settings = load_settings(write_config(tmp_path, emulator, server), environ={})
    assert settings.apple is not None
    gateway = AppleGateway.from_settings(settings.apple, session=session, clock=clock)
    sent = emulator.store.subscribe("premium.monthly")
    assert gateway.notification(sent.signed_payload).record is not None
    with pytest.raises(NotConfigured):
        gateway.subscription(sent.transaction_id or "")
