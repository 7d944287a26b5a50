"""`iap-engine inspect apple`: decoded JSON and exit 0, or the reason code and exit 1."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from iap_engine.settings import Settings, load_settings
from store_adapters.apple.inspect import inspect_payload
from store_emulator.apple.certificates import SigningChain
from store_emulator.apple.signer import JwsSigner
from tests.unit.apple.conftest import (
    FixedClock,
    notification_payload,
    renewal_payload,
    transaction_payload,
)


@pytest.fixture
def settings(tmp_path: Path, chain: SigningChain) -> Settings:
    (tmp_path / "root.der").write_bytes(chain.root_der)
    (tmp_path / "config.toml").write_text(
        "[apple]\n"
        'bundle_id = "com.example.app"\n'
        "app_apple_id = 1234567890\n"
        'environments = ["Production", "Sandbox"]\n'
        'root_certificates = ["root.der"]\n'
    )
    return load_settings(tmp_path / "config.toml", environ={})


def run(settings: Settings, data: bytes) -> tuple[int, str]:
    out = io.StringIO()
    code = inspect_payload(settings, data, out, clock=FixedClock())
    return code, out.getvalue()


def test_a_notification_prints_with_its_nested_jws_decoded(
    settings: Settings, signer: JwsSigner
) -> None:
    token = signer.sign(
        notification_payload(
            signer, "DID_RENEW", transaction=transaction_payload(), renewal=renewal_payload()
        )
    )
    code, output = run(settings, token.encode() + b"\n")
    assert code == 0
    printed = json.loads(output)
    assert printed["kind"] == "notification"
    data = printed["payload"]["data"]
    assert data["signedTransactionInfo"]["transactionId"] == "2000000000000101"
    assert data["signedRenewalInfo"]["autoRenewStatus"] == 1


def test_a_webhook_body_is_accepted(settings: Settings, signer: JwsSigner) -> None:
    body = json.dumps(
        {"signedPayload": signer.sign(notification_payload(signer, "TEST", status=None))}
    )
    code, output = run(settings, body.encode())
    assert code == 0
    assert json.loads(output)["payload"]["notificationType"] == "TEST"


@pytest.mark.parametrize(
    ("payload", "kind"),
    [(transaction_payload(), "transaction"), (renewal_payload(), "renewal_info")],
)
def test_transactions_and_renewal_infos(
    settings: Settings, signer: JwsSigner, payload: dict[str, object], kind: str
) -> None:
    code, output = run(settings, signer.sign(payload).encode())
    assert code == 0
    assert json.loads(output) == {"kind": kind, "payload": payload}


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda t: t[:-3] + ("AAA" if not t.endswith("AAA") else "BBB"), "invalid_signature"),
        (lambda t: "garbage", "malformed"),
        (lambda t: '{"signedPayload": 7}', "malformed"),
    ],
)
def test_a_rejected_payload_prints_its_reason(
    settings: Settings, signer: JwsSigner, mutate: object, reason: str
) -> None:
    token = signer.sign(transaction_payload())
    code, output = run(settings, mutate(token).encode())  # type: ignore[operator]
    assert code == 1
    lines = output.splitlines()
    assert lines[0] == f"rejected: {reason}"
    assert len(lines) == 3
    assert token[-20:] not in output


def test_a_wrong_bundle_prints_wrong_app(settings: Settings, signer: JwsSigner) -> None:
    code, output = run(settings, signer.sign(transaction_payload(bundleId="x.y")).encode())
    assert (code, output.splitlines()[0]) == (1, "rejected: wrong_app")


def test_without_an_apple_section(signer: JwsSigner) -> None:
    code, output = run(Settings(), signer.sign(transaction_payload()).encode())
    assert code == 1
    assert "[apple]" in output
