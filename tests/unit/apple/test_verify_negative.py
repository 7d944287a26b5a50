"""Hostile and broken input: every case gets its reason code, none crashes."""

from __future__ import annotations

import base64
import time
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from store_adapters.apple.errors import Reason, VerificationError
from store_adapters.apple.verify import SignedDataVerifier
from store_emulator.apple.certificates import CertificateAuthority, SigningChain
from store_emulator.apple.signer import JwsSigner, b64url, encode_segment, sign_compact
from tests.unit.apple.conftest import (
    NOW,
    FixedClock,
    make_verifier,
    millis,
    notification_payload,
    renewal_payload,
    transaction_payload,
)


def rejected(verifier: SignedDataVerifier, token: str) -> Reason:
    with pytest.raises(VerificationError) as failure:
        verifier.verify_transaction(token)
    return failure.value.reason_code


def test_a_well_formed_transaction_verifies(
    verifier: SignedDataVerifier, signer: JwsSigner
) -> None:
    payload = transaction_payload()
    assert verifier.verify_transaction(signer.sign(payload)) == payload


@pytest.mark.parametrize("alg", ["none", "HS256", "RS256", "ES384", None])
def test_algorithms_other_than_es256_are_refused(
    verifier: SignedDataVerifier, chain: SigningChain, alg: str | None
) -> None:
    header = {"alg": alg, "x5c": chain.x5c} if alg else {"x5c": chain.x5c}
    token = sign_compact(header, transaction_payload(), chain.leaf_key)
    assert rejected(verifier, token) is Reason.UNSUPPORTED_ALGORITHM


def test_an_unsigned_token_is_malformed(verifier: SignedDataVerifier, chain: SigningChain) -> None:
    header = encode_segment({"alg": "none", "x5c": chain.x5c})
    token = f"{header}.{encode_segment(transaction_payload())}."
    assert rejected(verifier, token) is Reason.MALFORMED


@pytest.mark.parametrize("count", [0, 1, 2, 4])
def test_x5c_must_hold_exactly_three_certificates(
    verifier: SignedDataVerifier, chain: SigningChain, count: int
) -> None:
    x5c = (chain.x5c * 2)[:count]
    token = sign_compact({"alg": "ES256", "x5c": x5c}, transaction_payload(), chain.leaf_key)
    assert rejected(verifier, token) is Reason.INVALID_CHAIN


def test_a_chain_to_another_root_is_refused(clock: FixedClock, chain: SigningChain) -> None:
    stranger = CertificateAuthority(NOW).issue_leaf(
        NOW - timedelta(days=1), NOW + timedelta(days=1)
    )
    verifier = make_verifier([chain.root_der], clock)
    assert (
        rejected(verifier, JwsSigner(stranger).sign(transaction_payload())) is Reason.INVALID_CHAIN
    )


def test_a_trusted_root_in_x5c_does_not_help_a_foreign_chain(
    clock: FixedClock, chain: SigningChain
) -> None:
    """x5c[2] is never trusted: a foreign leaf and intermediate with our root appended."""
    stranger = CertificateAuthority(NOW).issue_leaf(
        NOW - timedelta(days=1), NOW + timedelta(days=1)
    )
    x5c = [*stranger.x5c[:2], chain.x5c[2]]
    token = sign_compact({"alg": "ES256", "x5c": x5c}, transaction_payload(), stranger.leaf_key)
    assert rejected(make_verifier([chain.root_der], clock), token) is Reason.INVALID_CHAIN


def test_a_self_signed_chain_is_refused(verifier: SignedDataVerifier, chain: SigningChain) -> None:
    leaf_only = chain.x5c[0]
    token = sign_compact(
        {"alg": "ES256", "x5c": [leaf_only, leaf_only, leaf_only]},
        transaction_payload(),
        chain.leaf_key,
    )
    assert rejected(verifier, token) is Reason.INVALID_CHAIN


def test_a_leaf_without_its_marker_oid_is_refused(
    clock: FixedClock, authority: CertificateAuthority
) -> None:
    unmarked = authority.issue_leaf(NOW - timedelta(days=1), NOW + timedelta(days=1), marker=False)
    verifier = make_verifier([unmarked.root_der], clock)
    token = JwsSigner(unmarked).sign(transaction_payload())
    assert rejected(verifier, token) is Reason.INVALID_CERTIFICATE


def test_an_intermediate_without_its_marker_oid_is_refused(clock: FixedClock) -> None:
    authority = CertificateAuthority(NOW, intermediate_marker=False)
    chain = authority.issue_leaf(NOW - timedelta(days=1), NOW + timedelta(days=1))
    token = JwsSigner(chain).sign(transaction_payload())
    assert rejected(make_verifier([chain.root_der], clock), token) is Reason.INVALID_CERTIFICATE


def test_a_leaf_expired_at_signed_date_is_refused(
    clock: FixedClock, authority: CertificateAuthority
) -> None:
    expired = authority.issue_leaf(NOW - timedelta(days=60), NOW - timedelta(days=1))
    token = JwsSigner(expired).sign(transaction_payload())
    assert rejected(make_verifier([expired.root_der], clock), token) is Reason.CERTIFICATE_EXPIRED


def test_a_leaf_valid_at_signed_date_verifies_after_it_expired(
    authority: CertificateAuthority,
) -> None:
    """Apple signs with a leaf valid then; the payload stays valid after the leaf expires."""
    old = authority.issue_leaf(NOW - timedelta(days=60), NOW - timedelta(days=10))
    payload = transaction_payload(signedDate=millis(NOW - timedelta(days=20)))
    verifier = make_verifier([old.root_der], FixedClock(NOW))
    assert verifier.verify_transaction(JwsSigner(old).sign(payload)) == payload


def test_the_cached_chain_still_checks_each_signed_date(
    clock: FixedClock, authority: CertificateAuthority
) -> None:
    leaf = authority.issue_leaf(NOW - timedelta(days=60), NOW - timedelta(days=10))
    signer = JwsSigner(leaf)
    verifier = make_verifier([leaf.root_der], clock)
    verifier.verify_transaction(
        signer.sign(transaction_payload(signedDate=millis(NOW - timedelta(days=20))))
    )
    later = signer.sign(transaction_payload(signedDate=millis(NOW - timedelta(days=5))))
    assert rejected(verifier, later) is Reason.CERTIFICATE_EXPIRED


def test_the_chain_is_verified_once_per_x5c(
    verifier: SignedDataVerifier, signer: JwsSigner
) -> None:
    for index in range(5):
        verifier.verify_transaction(signer.sign(transaction_payload(transactionId=str(index))))
    assert verifier.chain_validations == 1


@pytest.mark.parametrize("change", ["intermediate", "alg"])
def test_a_cached_chain_vouches_for_its_exact_header_only(
    verifier: SignedDataVerifier, signer: JwsSigner, chain: SigningChain, change: str
) -> None:
    verifier.verify_transaction(signer.sign(transaction_payload()))
    if change == "intermediate":
        stranger = CertificateAuthority(NOW).issue_leaf(NOW, NOW + timedelta(days=1))
        header = {"alg": "ES256", "x5c": [chain.x5c[0], stranger.x5c[1], chain.x5c[2]]}
        expected = Reason.INVALID_CHAIN
    else:
        header = {"alg": "HS256", "x5c": chain.x5c}
        expected = Reason.UNSUPPORTED_ALGORITHM
    token = sign_compact(header, transaction_payload(), chain.leaf_key)
    assert rejected(verifier, token) is expected


def test_the_chain_cache_is_bounded(clock: FixedClock, authority: CertificateAuthority) -> None:
    verifier = SignedDataVerifier(
        root_certificates=[authority.root.der],
        bundle_id="com.example.app",
        app_apple_id=1234567890,
        environments=("Sandbox",),
        clock=clock,
        cache_size=2,
    )
    for _ in range(4):
        leaf = authority.issue_leaf(NOW - timedelta(days=1), NOW + timedelta(days=1))
        verifier.verify_transaction(JwsSigner(leaf).sign(transaction_payload()))
    assert verifier.chain_validations == 4
    assert verifier.cached_chains == 2


def test_a_future_signed_date_is_refused(verifier: SignedDataVerifier, signer: JwsSigner) -> None:
    payload = transaction_payload(signedDate=millis(NOW + timedelta(minutes=10)))
    assert rejected(verifier, signer.sign(payload)) is Reason.FUTURE_DATE


def test_a_small_clock_skew_is_tolerated(verifier: SignedDataVerifier, signer: JwsSigner) -> None:
    payload = transaction_payload(signedDate=millis(NOW + timedelta(seconds=30)))
    assert verifier.verify_transaction(signer.sign(payload)) == payload


def test_a_float_signed_date_is_accepted(verifier: SignedDataVerifier, signer: JwsSigner) -> None:
    payload = transaction_payload(signedDate=millis(NOW) - 0.25)
    assert verifier.verify_transaction(signer.sign(payload))["signedDate"] == millis(NOW) - 0.25


def test_a_signature_by_another_key_is_refused(
    verifier: SignedDataVerifier, chain: SigningChain
) -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    token = sign_compact({"alg": "ES256", "x5c": chain.x5c}, transaction_payload(), other)
    assert rejected(verifier, token) is Reason.INVALID_SIGNATURE


@pytest.mark.parametrize(
    "token",
    [
        "",
        "garbage",
        "a.b",
        "a.b.c.d",
        "!!!.@@@.###",
        "eyJ.eyJ." + "A" * 86,
        ".." + "A" * 86,
        "é.é.é",
        base64.b64encode(b"not a jws at all").decode(),
    ],
)
def test_garbage_is_malformed(verifier: SignedDataVerifier, token: str) -> None:
    assert rejected(verifier, token) is Reason.MALFORMED


def test_a_header_that_is_not_an_object_is_malformed(
    verifier: SignedDataVerifier, signer: JwsSigner
) -> None:
    good = signer.sign(transaction_payload())
    token = b64url(b"[1, 2]") + good[good.index(".") :]
    assert rejected(verifier, token) is Reason.MALFORMED


def test_garbage_base64_in_x5c_is_an_invalid_certificate(
    verifier: SignedDataVerifier, chain: SigningChain
) -> None:
    x5c = ["%%%not-base64%%%", *chain.x5c[1:]]
    token = sign_compact({"alg": "ES256", "x5c": x5c}, transaction_payload(), chain.leaf_key)
    assert rejected(verifier, token) is Reason.INVALID_CERTIFICATE


@pytest.mark.parametrize("x5c", [[{"a": 1}, [], 3], "MIIB", [None, None, None]])
def test_x5c_entries_must_be_certificate_strings(
    verifier: SignedDataVerifier, chain: SigningChain, x5c: object
) -> None:
    token = sign_compact({"alg": "ES256", "x5c": x5c}, transaction_payload(), chain.leaf_key)
    assert rejected(verifier, token) in (Reason.INVALID_CERTIFICATE, Reason.INVALID_CHAIN)


def test_a_one_megabyte_header_is_refused_at_once(
    verifier: SignedDataVerifier, signer: JwsSigner
) -> None:
    good = signer.sign(transaction_payload())
    token = "A" * 1_048_576 + good[good.index(".") :]
    started = time.perf_counter()
    assert rejected(verifier, token) is Reason.MALFORMED
    assert time.perf_counter() - started < 0.05


def test_a_header_just_over_the_limit_is_refused(
    verifier: SignedDataVerifier, signer: JwsSigner
) -> None:
    good = signer.sign(transaction_payload())
    token = "A" * 20_000 + good[good.index(".") :]
    assert rejected(verifier, token) is Reason.MALFORMED


def test_a_deeply_nested_payload_is_malformed(
    verifier: SignedDataVerifier, chain: SigningChain
) -> None:
    header = encode_segment({"alg": "ES256", "x5c": chain.x5c})
    payload = b64url(b"[" * 100_000 + b"]" * 100_000)
    assert rejected(verifier, f"{header}.{payload}.{'A' * 86}") is Reason.MALFORMED


def test_a_wrong_bundle_id_is_wrong_app(verifier: SignedDataVerifier, signer: JwsSigner) -> None:
    token = signer.sign(transaction_payload(bundleId="com.example.other"))
    assert rejected(verifier, token) is Reason.WRONG_APP


@pytest.mark.parametrize("environment", ["Xcode", "LocalTesting", "Staging", None, 7])
def test_unaccepted_environments_are_refused(
    verifier: SignedDataVerifier, signer: JwsSigner, environment: object
) -> None:
    token = signer.sign(transaction_payload(environment=environment))
    assert rejected(verifier, token) is Reason.WRONG_ENVIRONMENT


def test_a_locally_signed_payload_cannot_claim_the_sandbox(
    clock: FixedClock, chain: SigningChain
) -> None:
    """With Xcode data enabled beside Sandbox, a lone (self-signed) certificate vouches for
    Xcode data only: otherwise anyone could sign sandbox purchases."""
    verifier = make_verifier([chain.root_der], clock, environments=("Sandbox", "Xcode"))
    local = {"alg": "ES256", "x5c": chain.x5c[:1]}
    xcode = transaction_payload(environment="Xcode")
    assert verifier.verify_transaction(sign_compact(local, xcode, chain.leaf_key)) == xcode
    sandbox = sign_compact(local, transaction_payload(environment="Sandbox"), chain.leaf_key)
    assert rejected(verifier, sandbox) is Reason.WRONG_ENVIRONMENT
    notification = notification_payload(JwsSigner(chain), "TEST", status=None)
    with pytest.raises(VerificationError) as failure:
        verifier.verify_notification(sign_compact(local, notification, chain.leaf_key))
    assert failure.value.reason_code is Reason.WRONG_ENVIRONMENT


def test_production_notifications_must_name_the_app(
    verifier: SignedDataVerifier, signer: JwsSigner
) -> None:
    payload = notification_payload(signer, "TEST", status=None, environment="Production")
    del payload["data"]["appAppleId"]  # type: ignore[attr-defined]
    with pytest.raises(VerificationError) as failure:
        verifier.verify_notification(signer.sign(payload))
    assert failure.value.reason_code is Reason.WRONG_APP


def test_a_notification_nesting_another_environment_is_refused(
    verifier: SignedDataVerifier, signer: JwsSigner
) -> None:
    payload = notification_payload(
        signer,
        "DID_RENEW",
        transaction=transaction_payload(environment="Production"),
        renewal=renewal_payload(),
    )
    with pytest.raises(VerificationError) as failure:
        verifier.verify_notification(signer.sign(payload))
    assert failure.value.reason_code is Reason.WRONG_ENVIRONMENT


def test_a_notification_nesting_a_forged_transaction_is_refused(
    verifier: SignedDataVerifier, signer: JwsSigner, chain: SigningChain
) -> None:
    forged = sign_compact(
        {"alg": "ES256", "x5c": chain.x5c},
        transaction_payload(),
        ec.generate_private_key(ec.SECP256R1()),
    )
    payload = notification_payload(signer, "DID_RENEW", renewal=renewal_payload())
    payload["data"]["signedTransactionInfo"] = forged  # type: ignore[index]
    with pytest.raises(VerificationError) as failure:
        verifier.verify_notification(signer.sign(payload))
    assert failure.value.reason_code is Reason.INVALID_SIGNATURE


def test_messages_never_carry_the_payload(verifier: SignedDataVerifier, signer: JwsSigner) -> None:
    token = signer.sign(transaction_payload(bundleId="com.example.other"))
    with pytest.raises(VerificationError) as failure:
        verifier.verify_transaction(token)
    assert "com.example.other" not in str(failure.value)
    assert token[:40] not in str(failure.value)


@pytest.mark.parametrize(
    ("environments", "app_apple_id"),
    [((), 1), (("Production",), None), (("Production", "Xcode"), 1), (("Mars",), 1)],
)
def test_unsafe_configurations_are_refused(
    clock: FixedClock, chain: SigningChain, environments: tuple[str, ...], app_apple_id: int | None
) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message varies by mistake
        make_verifier([chain.root_der], clock, environments=environments, app_apple_id=app_apple_id)


@pytest.mark.parametrize(
    ("r", "s"),
    [
        (1, 1),
        (2**255, 5),
        (2**256 - 1, 2**248),
        (0x7F << 248, 0x80 << 248),
        (2**255, 2**255 + 1),
        (0, 2**100),
    ],
)
def test_jose_signatures_convert_to_der_like_cryptography(r: int, s: int) -> None:
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    from store_adapters.apple.jws import der_signature

    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    assert der_signature(raw) == encode_dss_signature(r, s)


@pytest.mark.parametrize(
    ("reason", "authentication"),
    [
        (Reason.MALFORMED, False),
        (Reason.UNSUPPORTED_ALGORITHM, True),
        (Reason.INVALID_CHAIN, True),
        (Reason.INVALID_CERTIFICATE, True),
        (Reason.CERTIFICATE_EXPIRED, True),
        (Reason.FUTURE_DATE, True),
        (Reason.INVALID_SIGNATURE, True),
        (Reason.WRONG_APP, False),
        (Reason.WRONG_ENVIRONMENT, False),
    ],
)
def test_rejections_say_whether_the_origin_is_unproven(
    reason: Reason, authentication: bool
) -> None:
    from iap_engine.service.errors import DeliveryRejected

    error = VerificationError(reason, "m")
    assert isinstance(error, DeliveryRejected)
    assert (error.reason, error.authentication) == (reason.value, authentication)
