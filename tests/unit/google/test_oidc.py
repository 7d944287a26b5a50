"""Push token checks with a fixed key set and a virtual clock (no network)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from store_adapters.google.errors import PushUnauthenticated
from store_adapters.google.oidc import PushAuthenticator, StaticKeys
from store_emulator.clock import VirtualClock
from store_emulator.google.keys import PushSigner, new_rsa_key

AUDIENCE = "https://iap.example.com/v1/notifications/google"
EMAIL = "push@example-project.iam.gserviceaccount.com"


@pytest.fixture(scope="module")
def clock() -> VirtualClock:
    return VirtualClock(datetime(2026, 6, 1, tzinfo=UTC))


@pytest.fixture(scope="module")
def signer(clock: VirtualClock) -> PushSigner:
    return PushSigner(clock)


@pytest.fixture
def authenticator(signer: PushSigner, clock: VirtualClock) -> PushAuthenticator:
    return PushAuthenticator(StaticKeys(signer.jwks()), clock, AUDIENCE, EMAIL)


def reason(authenticator: PushAuthenticator, authorization: str | None) -> str:
    with pytest.raises(PushUnauthenticated) as raised:
        authenticator.authenticate(authorization)
    assert raised.value.authentication is True
    return raised.value.reason


def test_a_good_token(authenticator, signer, clock):
    identity = authenticator.authenticate("Bearer " + signer.mint(AUDIENCE, EMAIL))

    assert identity.email == EMAIL
    assert identity.expires_at == clock.now() + timedelta(hours=1)
    assert identity.claims["azp"]


def test_both_issuer_spellings_are_google(authenticator, signer):
    token = signer.mint(AUDIENCE, EMAIL, issuer="accounts.google.com")

    assert authenticator.authenticate(f"bearer {token}").email == EMAIL


@pytest.mark.parametrize("header", [None, "", "Basic abc", "Bearer ", "Bearer"])
def test_missing_token(authenticator, header):
    assert reason(authenticator, header) == "missing_token"


def test_each_check_has_its_reason(authenticator, signer):
    assert reason(authenticator, "Bearer x.y") == "malformed"
    assert reason(authenticator, "Bearer " + signer.mint("other", EMAIL)) == "wrong_audience"
    assert reason(authenticator, "Bearer " + signer.mint(AUDIENCE, "x@y")) == "wrong_email"
    assert (
        reason(authenticator, "Bearer " + signer.mint(AUDIENCE, EMAIL, email_verified=False))
        == "email_unverified"
    )
    assert (
        reason(authenticator, "Bearer " + signer.mint(AUDIENCE, EMAIL, issuer="https://x"))
        == "wrong_issuer"
    )
    stranger = signer.mint(AUDIENCE, EMAIL, kid="nope", key=new_rsa_key())
    assert reason(authenticator, "Bearer " + stranger) == "unknown_key"
    forged = signer.mint(AUDIENCE, EMAIL, kid=signer.current_kid, key=new_rsa_key())
    assert reason(authenticator, "Bearer " + forged) == "invalid_signature"


def test_time_is_the_clocks_with_a_small_skew(authenticator, signer):
    just_expired = signer.mint(AUDIENCE, EMAIL, issued_ago=timedelta(minutes=60, seconds=30))
    long_expired = signer.mint(AUDIENCE, EMAIL, issued_ago=timedelta(minutes=62))
    future = signer.mint(AUDIENCE, EMAIL, issued_ago=timedelta(minutes=-5))

    assert authenticator.authenticate("Bearer " + just_expired).email == EMAIL
    assert reason(authenticator, "Bearer " + long_expired) == "expired"
    assert reason(authenticator, "Bearer " + future) == "not_yet_valid"


def test_an_unsigned_token_is_refused(authenticator):
    import jwt

    unsigned = jwt.encode({"aud": AUDIENCE, "email": EMAIL}, key=None, algorithm="none")

    assert reason(authenticator, "Bearer " + unsigned) == "invalid_signature"
