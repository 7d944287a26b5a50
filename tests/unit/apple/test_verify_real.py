"""Real App Store-signed samples against the real Apple Root CA - G3."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from store_adapters.apple.errors import Reason, VerificationError
from store_adapters.apple.verify import SignedDataVerifier
from tests.support.realdata import realdata
from tests.unit.apple.conftest import FixedClock
from tests.unit.apple.samples import Sample, apple_root, real_samples

# After every sample's signedDate; chains are checked at each payload's own signedDate.
LATER = FixedClock(datetime(2026, 1, 1, tzinfo=UTC))
SAMPLES = real_samples()
IDS = [s.name for s in SAMPLES]


def verifier_for(
    sample: Sample,
    *,
    roots: list[bytes] | None = None,
    bundle_id: str | None = None,
    app_apple_id: int | None = None,
    environments: tuple[str, ...] = ("Production", "Sandbox"),
) -> SignedDataVerifier:
    return SignedDataVerifier(
        root_certificates=roots if roots is not None else [apple_root()],
        bundle_id=bundle_id or sample.bundle_id or "any.bundle",
        app_apple_id=app_apple_id or sample.app_apple_id or 1,
        environments=environments,
        clock=LATER,
    )


def verify(verifier: SignedDataVerifier, sample: Sample, token: str | None = None) -> Any:
    token = token or sample.token
    if sample.kind == "notification":
        return verifier.verify_notification(token)
    if sample.kind == "transaction":
        return verifier.verify_transaction(token)
    return verifier.verify_renewal_info(token)


def test_the_samples_are_present() -> None:
    realdata("apple", "real-signed")
    assert len(SAMPLES) >= 50
    assert {s.kind for s in SAMPLES} == {"notification", "transaction", "renewal_info"}


@pytest.mark.parametrize("sample", SAMPLES, ids=IDS)
def test_verifies_and_decodes(sample: Sample) -> None:
    result = verify(verifier_for(sample), sample)
    if sample.kind == "notification":
        assert result.payload == sample.payload
        decoded = result.decoded()
        data = decoded.get("data", {})
        if "signedTransactionInfo" in sample.payload.get("data", {}):
            assert isinstance(data["signedTransactionInfo"], dict)
            assert data["signedTransactionInfo"]["bundleId"] == sample.bundle_id
        if "signedRenewalInfo" in sample.payload.get("data", {}):
            assert isinstance(data["signedRenewalInfo"], dict)
    else:
        assert result == sample.payload


def _flip(token: str, position: int) -> str:
    replacement = "A" if token[position] != "A" else "B"
    return token[:position] + replacement + token[position + 1 :]


@pytest.mark.parametrize("sample", SAMPLES, ids=IDS)
def test_a_changed_payload_byte_is_rejected(sample: Sample) -> None:
    header_end = sample.token.index(".")
    payload_end = sample.token.rindex(".")
    for position in (header_end + 1, (header_end + payload_end) // 2, payload_end - 1):
        with pytest.raises(VerificationError) as rejected:
            verify(verifier_for(sample), sample, _flip(sample.token, position))
        assert rejected.value.reason in (Reason.INVALID_SIGNATURE, Reason.MALFORMED)


@pytest.mark.parametrize("sample", SAMPLES, ids=IDS)
def test_a_changed_signature_byte_is_rejected(sample: Sample) -> None:
    signature_start = sample.token.rindex(".") + 1
    for position in (signature_start, len(sample.token) - 1):
        with pytest.raises(VerificationError) as rejected:
            verify(verifier_for(sample), sample, _flip(sample.token, position))
        assert rejected.value.reason in (Reason.INVALID_SIGNATURE, Reason.MALFORMED)


@pytest.mark.parametrize("sample", SAMPLES, ids=IDS)
def test_another_trusted_root_is_rejected(sample: Sample, chain: Any) -> None:
    with pytest.raises(VerificationError) as rejected:
        verify(verifier_for(sample, roots=[chain.root_der]), sample)
    assert rejected.value.reason == Reason.INVALID_CHAIN


@pytest.mark.parametrize(
    "sample", [s for s in SAMPLES if s.bundle_id], ids=[s.name for s in SAMPLES if s.bundle_id]
)
def test_a_wrong_bundle_id_is_rejected(sample: Sample) -> None:
    with pytest.raises(VerificationError) as rejected:
        verify(verifier_for(sample, bundle_id="com.example.other"), sample)
    assert rejected.value.reason == Reason.WRONG_APP


def test_renewal_info_alone_names_no_bundle() -> None:
    """JWSRenewalInfo has no bundleId field: alone, only its chain, signature and
    environment can be checked (inside a notification the envelope names the app)."""
    renewals = [s for s in SAMPLES if s.kind == "renewal_info"]
    assert renewals and all(s.bundle_id is None for s in renewals)


@pytest.mark.parametrize(
    "sample",
    [s for s in SAMPLES if s.app_apple_id],
    ids=[s.name for s in SAMPLES if s.app_apple_id],
)
def test_a_wrong_app_apple_id_is_rejected(sample: Sample) -> None:
    with pytest.raises(VerificationError) as rejected:
        verify(verifier_for(sample, app_apple_id=999), sample)
    assert rejected.value.reason == Reason.WRONG_APP


@pytest.mark.parametrize("sample", SAMPLES, ids=IDS)
def test_an_unaccepted_environment_is_rejected(sample: Sample) -> None:
    other = "Sandbox" if sample.environment == "Production" else "Production"
    with pytest.raises(VerificationError) as rejected:
        verify(verifier_for(sample, environments=(other,)), sample)
    assert rejected.value.reason == Reason.WRONG_ENVIRONMENT


def test_session_pro_notifications_decode_as_published() -> None:
    published = json.loads(
        realdata("apple", "real-signed", "session-pro-backend", "DECODED_PAYLOADS.json").read_text()
    )
    samples = {s.name: s for s in SAMPLES}
    for name, expected in published.items():
        sample = samples[f"session-pro-backend/{name}.signedPayload.jws"]
        notification = verifier_for(sample).verify_notification(sample.token)
        assert notification.payload == expected["signedPayload"]
        assert notification.transaction == expected["signedTransactionInfo"]
        assert notification.renewal_info == expected["signedRenewalInfo"]


def test_a_notification_without_signed_date_is_checked_at_its_transactions() -> None:
    sample = next(s for s in SAMPLES if s.name == "gopay-notification_v2_test-0.jws")
    assert "signedDate" not in sample.payload
    notification = verifier_for(sample).verify_notification(sample.token)
    assert notification.signed_date == datetime(2022, 3, 4, 9, 43, 28, 254000, tzinfo=UTC)
