"""Correctly signed payloads with absurd field values: typed rejections, never a crash."""

from __future__ import annotations

import contextlib
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from store_adapters.apple.errors import VerificationError
from store_adapters.apple.normalize import notification_info, notification_record
from store_adapters.apple.verify import SignedDataVerifier
from store_emulator.apple.certificates import SigningChain
from store_emulator.apple.signer import JwsSigner
from tests.unit.apple.conftest import (
    APP_APPLE_ID,
    BUNDLE_ID,
    NOW,
    FixedClock,
    make_verifier,
    millis,
    renewal_payload,
    transaction_payload,
)

ODD = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=6,
)
TRANSACTION_FIELDS = [*transaction_payload(), "revocationDate", "offerType", "isUpgraded"]
RENEWAL_FIELDS = [*renewal_payload(), "gracePeriodExpiresDate", "expirationIntent"]
ENVELOPE_FIELDS = ["notificationType", "subtype", "notificationUUID", "signedDate", "data"]
DATA_FIELDS = ["status", "environment", "bundleId", "appAppleId", "signedRenewalInfo"]


def verify_and_normalize(verifier: SignedDataVerifier, token: str) -> None:
    try:
        notification = verifier.verify_notification(token)
    except VerificationError:
        return
    notification_info(notification)
    with contextlib.suppress(VerificationError):
        notification_record(notification)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    where=st.sampled_from(["transaction", "renewal", "envelope", "data"]),
    field=st.integers(min_value=0, max_value=100),
    value=ODD,
)
def test_odd_values_anywhere(chain: SigningChain, where: str, field: int, value: Any) -> None:
    signer = JwsSigner(chain)
    verifier = make_verifier([chain.root_der], FixedClock(), environments=("Sandbox",))
    transaction = transaction_payload()
    renewal = renewal_payload()
    if where == "transaction":
        transaction[TRANSACTION_FIELDS[field % len(TRANSACTION_FIELDS)]] = value
    elif where == "renewal":
        renewal[RENEWAL_FIELDS[field % len(RENEWAL_FIELDS)]] = value
    data: dict[str, Any] = {
        "appAppleId": APP_APPLE_ID,
        "bundleId": BUNDLE_ID,
        "environment": "Sandbox",
        "status": 1,
        "signedTransactionInfo": signer.sign(transaction),
        "signedRenewalInfo": signer.sign(renewal),
    }
    if where == "data":
        data[DATA_FIELDS[field % len(DATA_FIELDS)]] = value
    envelope: dict[str, Any] = {
        "notificationType": "DID_RENEW",
        "notificationUUID": "u",
        "signedDate": millis(NOW),
        "data": data,
    }
    if where == "envelope":
        envelope[ENVELOPE_FIELDS[field % len(ENVELOPE_FIELDS)]] = value
    verify_and_normalize(verifier, signer.sign(envelope))
