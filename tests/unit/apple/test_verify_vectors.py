"""Apple's own library test vectors (app-store-server-library-python, MIT) and Xcode data."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from store_adapters.apple.errors import Reason, VerificationError
from store_adapters.apple.verify import SignedDataVerifier
from tests.support.realdata import realdata
from tests.unit.apple.conftest import FixedClock

CLOCK = FixedClock(datetime(2026, 1, 1, tzinfo=UTC))
XCODE_BUNDLE = "com.example.naturelab.backyardbirds.example"


def vector(*parts: str) -> str:
    return realdata("apple", "library-test-vectors", *parts).read_text().strip()


def ca_verifier(environments: tuple[str, ...] = ("Sandbox",)) -> SignedDataVerifier:
    return SignedDataVerifier(
        root_certificates=[
            realdata("apple", "library-test-vectors", "certs", "testCA.der").read_bytes()
        ],
        bundle_id="com.example",
        app_apple_id=1234,
        environments=environments,
        clock=CLOCK,
    )


def xcode_verifier(environments: tuple[str, ...]) -> SignedDataVerifier:
    return SignedDataVerifier(
        root_certificates=[realdata("apple", "roots", "AppleRootCA-G3.cer").read_bytes()],
        bundle_id=XCODE_BUNDLE,
        app_apple_id=None,
        environments=environments,
        clock=CLOCK,
    )


def test_the_test_notification_verifies_against_the_test_ca() -> None:
    notification = ca_verifier().verify_notification(vector("mock_signed_data", "testNotification"))
    assert notification.payload["notificationType"] == "TEST"
    assert notification.environment == "Sandbox"
    assert notification.signed_date == datetime.fromtimestamp(1681314324, UTC)


def test_the_transaction_verifies_against_the_test_ca() -> None:
    transaction = ca_verifier().verify_transaction(vector("mock_signed_data", "transactionInfo"))
    assert transaction["bundleId"] == "com.example"


def test_the_renewal_info_verifies_against_the_test_ca() -> None:
    renewal = ca_verifier().verify_renewal_info(vector("mock_signed_data", "renewalInfo"))
    assert renewal["environment"] == "Sandbox"


def test_the_wrong_bundle_vector_is_rejected_as_wrong_app() -> None:
    with pytest.raises(VerificationError) as rejected:
        ca_verifier().verify_notification(vector("mock_signed_data", "wrongBundleId"))
    assert rejected.value.reason == Reason.WRONG_APP


def test_the_missing_x5c_vector_is_rejected_as_invalid_chain() -> None:
    with pytest.raises(VerificationError) as rejected:
        ca_verifier().verify_notification(vector("mock_signed_data", "missingX5CHeaderClaim"))
    assert rejected.value.reason == Reason.INVALID_CHAIN


def test_the_legacy_transaction_is_not_a_jws() -> None:
    with pytest.raises(VerificationError) as rejected:
        ca_verifier().verify_transaction(vector("mock_signed_data", "legacyTransaction"))
    assert rejected.value.reason == Reason.MALFORMED


def test_test_ca_data_is_rejected_under_apple_root() -> None:
    verifier = SignedDataVerifier(
        root_certificates=[realdata("apple", "roots", "AppleRootCA-G3.cer").read_bytes()],
        bundle_id="com.example",
        app_apple_id=1234,
        environments=("Sandbox",),
        clock=CLOCK,
    )
    with pytest.raises(VerificationError) as rejected:
        verifier.verify_transaction(vector("mock_signed_data", "transactionInfo"))
    assert rejected.value.reason == Reason.INVALID_CHAIN


@pytest.mark.parametrize(
    ("name", "method"),
    [
        ("xcode-signed-transaction", "verify_transaction"),
        ("xcode-signed-renewal-info", "verify_renewal_info"),
        ("xcode-signed-app-transaction", "verify_app_transaction"),
    ],
)
def test_xcode_data_is_accepted_only_when_enabled(name: str, method: str) -> None:
    token = vector("xcode", name)
    enabled = xcode_verifier(("Sandbox", "Xcode"))
    decoded = getattr(enabled, method)(token)
    assert decoded.get("environment", decoded.get("receiptType")) == "Xcode"
    # Float signedDate (Xcode writes fractional milliseconds) is read as such.
    assert isinstance(decoded.get("signedDate", decoded.get("receiptCreationDate")), float)
    with pytest.raises(VerificationError) as rejected:
        getattr(xcode_verifier(("Sandbox",)), method)(token)
    assert rejected.value.reason == Reason.INVALID_CHAIN


def test_xcode_data_enabled_for_local_testing_only_is_the_wrong_environment() -> None:
    with pytest.raises(VerificationError) as rejected:
        xcode_verifier(("LocalTesting",)).verify_transaction(
            vector("xcode", "xcode-signed-transaction")
        )
    assert rejected.value.reason == Reason.WRONG_ENVIRONMENT


def test_local_environments_are_never_accepted_with_production() -> None:
    with pytest.raises(ValueError, match="Production"):
        xcode_verifier(("Production", "Xcode"))
