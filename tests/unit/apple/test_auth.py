"""App Store Server API bearer tokens: the header and claims Apple documents."""

from __future__ import annotations

from datetime import timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from store_adapters.apple.auth import TokenSigner
from tests.unit.apple.conftest import NOW, FixedClock


def p8(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def test_the_token_carries_apples_header_and_claims() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    signer = TokenSigner(
        signing_key=p8(key),
        key_id="2X9R4HXF34",
        issuer_id="57246542-96fe-1a63-e053-0824d011072a",
        bundle_id="com.example.app",
        clock=FixedClock(),
    )
    token = signer.bearer()
    assert jwt.get_unverified_header(token) == {"alg": "ES256", "kid": "2X9R4HXF34", "typ": "JWT"}
    claims = jwt.decode(
        token,
        key.public_key(),
        algorithms=["ES256"],
        audience="appstoreconnect-v1",
        options={"verify_exp": False, "verify_iat": False},
    )
    issued = int(NOW.timestamp())
    assert claims == {
        "iss": "57246542-96fe-1a63-e053-0824d011072a",
        "iat": issued,
        "exp": issued + 20 * 60,
        "aud": "appstoreconnect-v1",
        "bid": "com.example.app",
    }


def test_a_token_is_reused_until_shortly_before_it_expires() -> None:
    clock = FixedClock()
    signer = TokenSigner(
        signing_key=p8(ec.generate_private_key(ec.SECP256R1())),
        key_id="K",
        issuer_id="I",
        bundle_id="B",
        clock=clock,
    )
    first = signer.bearer()
    clock.instant = NOW + timedelta(minutes=18)
    assert signer.bearer() == first
    clock.instant = NOW + timedelta(minutes=19, seconds=30)
    assert signer.bearer() != first


@pytest.mark.parametrize(
    "key",
    [
        p8(ec.generate_private_key(ec.SECP384R1())),
        p8(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        b"-----BEGIN PRIVATE KEY-----\nnonsense\n-----END PRIVATE KEY-----\n",
    ],
)
def test_only_p256_keys_sign(key: bytes) -> None:
    with pytest.raises(ValueError, match="key"):
        TokenSigner(signing_key=key, key_id="K", issuer_id="I", bundle_id="B", clock=FixedClock())


def test_lifetimes_over_an_hour_are_refused() -> None:
    with pytest.raises(ValueError, match="lifetime"):
        TokenSigner(
            signing_key=p8(ec.generate_private_key(ec.SECP256R1())),
            key_id="K",
            issuer_id="I",
            bundle_id="B",
            clock=FixedClock(),
            lifetime=timedelta(minutes=61),
        )
