"""Fixtures for the Apple adapter's unit tests: a fixed clock and an Apple-shaped chain."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from iap_engine.service.ports import Clock
from store_adapters.apple.verify import SignedDataVerifier
from store_emulator.apple.certificates import CertificateAuthority, SigningChain
from store_emulator.apple.signer import JwsSigner

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
BUNDLE_ID = "com.example.app"
APP_APPLE_ID = 1234567890


class FixedClock:
    def __init__(self, now: datetime = NOW) -> None:
        self.instant = now

    def now(self) -> datetime:
        return self.instant


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture(scope="session")
def authority() -> CertificateAuthority:
    return CertificateAuthority(NOW)


@pytest.fixture(scope="session")
def chain(authority: CertificateAuthority) -> SigningChain:
    return authority.issue_leaf(NOW - timedelta(days=30), NOW + timedelta(days=365))


@pytest.fixture(scope="session")
def signer(chain: SigningChain) -> JwsSigner:
    return JwsSigner(chain)


def make_verifier(
    roots: list[bytes],
    clock: Clock,
    *,
    environments: tuple[str, ...] = ("Production", "Sandbox"),
    bundle_id: str = BUNDLE_ID,
    app_apple_id: int | None = APP_APPLE_ID,
) -> SignedDataVerifier:
    return SignedDataVerifier(
        root_certificates=roots,
        bundle_id=bundle_id,
        app_apple_id=app_apple_id,
        environments=environments,
        clock=clock,
    )


@pytest.fixture
def verifier(chain: SigningChain, clock: FixedClock) -> SignedDataVerifier:
    return make_verifier([chain.root_der], clock)


def millis(instant: datetime) -> int:
    return int(instant.timestamp() * 1000)


def transaction_payload(**overrides: object) -> dict[str, object]:
    """A JWSTransactionDecodedPayload for an auto-renewable subscription, as of NOW."""
    payload: dict[str, object] = {
        "transactionId": "2000000000000101",
        "originalTransactionId": "2000000000000100",
        "bundleId": BUNDLE_ID,
        "productId": "premium.monthly",
        "subscriptionGroupIdentifier": "premium",
        "purchaseDate": millis(NOW - timedelta(days=3)),
        "originalPurchaseDate": millis(NOW - timedelta(days=33)),
        "expiresDate": millis(NOW + timedelta(days=27)),
        "quantity": 1,
        "type": "Auto-Renewable Subscription",
        "inAppOwnershipType": "PURCHASED",
        "signedDate": millis(NOW),
        "environment": "Sandbox",
        "transactionReason": "RENEWAL",
        "price": 9990,
        "currency": "USD",
    }
    payload.update(overrides)
    return {k: v for k, v in payload.items() if v is not None}


def renewal_payload(**overrides: object) -> dict[str, object]:
    payload: dict[str, object] = {
        "originalTransactionId": "2000000000000100",
        "productId": "premium.monthly",
        "autoRenewProductId": "premium.monthly",
        "autoRenewStatus": 1,
        "signedDate": millis(NOW),
        "environment": "Sandbox",
        "renewalDate": millis(NOW + timedelta(days=27)),
    }
    payload.update(overrides)
    return {k: v for k, v in payload.items() if v is not None}


def notification_payload(
    signer: JwsSigner,
    notification_type: str,
    subtype: str | None = None,
    *,
    transaction: dict[str, object] | None = None,
    renewal: dict[str, object] | None = None,
    status: int | None = 1,
    environment: str = "Sandbox",
    **overrides: object,
) -> dict[str, object]:
    data: dict[str, object] = {
        "appAppleId": APP_APPLE_ID,
        "bundleId": BUNDLE_ID,
        "bundleVersion": "1",
        "environment": environment,
    }
    if transaction is not None:
        data["signedTransactionInfo"] = signer.sign(transaction)
    if renewal is not None:
        data["signedRenewalInfo"] = signer.sign(renewal)
    if status is not None:
        data["status"] = status
    payload: dict[str, object] = {
        "notificationType": notification_type,
        "notificationUUID": "11111111-2222-4333-8444-555555555555",
        "data": data,
        "version": "2.0",
        "signedDate": millis(NOW),
    }
    if subtype is not None:
        payload["subtype"] = subtype
    payload.update(overrides)
    return payload
