"""Authentication of Pub/Sub push requests: the `Authorization: Bearer` OIDC token.

Pub/Sub signs each push with a Google-issued ID token (RS256) for the push subscription's
service account. A request is accepted only when every check passes:

1. the signature verifies against Google's published keys (JWKS, cached; refetched when a
   token names an unknown key id, but at most once per `min_refresh_interval`, so a flood of
   made-up key ids cannot turn into a flood of requests to Google);
2. `iss` is `accounts.google.com` or `https://accounts.google.com`;
3. `aud` is the configured `pubsub_audience`;
4. `email` is the configured `pubsub_service_account` and `email_verified` is true;
5. `exp` and `iat` are valid at the clock's now, give or take `skew`.

PyJWT does the JWK parsing and the signature; the clock checks use the injected `Clock`.
Each failure raises `PushUnauthenticated` with a distinct reason code.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, cast

import jwt
import requests

from iap_engine.service.ports import Clock
from store_adapters.google.errors import PlayUnavailable, PushUnauthenticated

GOOGLE_CERTS_URL = "https://www.googleapis.com/oauth2/v3/certs"
ISSUERS = ("accounts.google.com", "https://accounts.google.com")
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")


class KeySource(Protocol):
    def key(self, kid: str) -> jwt.PyJWK | None:
        """The verification key with this id, or None when there is none."""
        ...


class JwksCache:
    """Google's signing keys, fetched from a JWKS URL over an injected session.

    Keys are kept for `max_age` (Google rotates them over days, and publishes new ones well
    before use). An unknown key id triggers one refetch, rate-limited by
    `min_refresh_interval`.
    """

    def __init__(
        self,
        session: requests.Session,
        clock: Clock,
        url: str = "",
        max_age: timedelta = timedelta(hours=1),
        min_refresh_interval: timedelta = timedelta(seconds=30),
        timeout: float | tuple[float, float] = (5.0, 10.0),
    ) -> None:
        self._session = session
        self._clock = clock
        self._url = url or GOOGLE_CERTS_URL
        self._max_age = max_age
        self._min_refresh_interval = min_refresh_interval
        self._timeout = timeout
        self._lock = threading.Lock()
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: datetime | None = None  # last successful fetch (for max_age)
        self._attempted_at: datetime | None = None  # last attempt (for the rate limit)

    def key(self, kid: str) -> jwt.PyJWK | None:
        now = self._clock.now()
        found = self._keys.get(kid)
        fetched_at = self._fetched_at
        if found is not None and fetched_at is not None and now - fetched_at < self._max_age:
            return found
        with self._lock:
            fetched_at, attempted_at = self._fetched_at, self._attempted_at
            stale = fetched_at is None or now - fetched_at >= self._max_age
            may_attempt = attempted_at is None or now - attempted_at >= self._min_refresh_interval
            if (stale or kid not in self._keys) and may_attempt:
                self._refresh(now)
            elif not self._keys:
                raise PlayUnavailable("Google's push signing keys are not available yet")
            return self._keys.get(kid)

    def _refresh(self, now: datetime) -> None:
        self._attempted_at = now
        try:
            response = self._session.get(self._url, timeout=self._timeout)
            response.raise_for_status()
            document = response.json()
        except (requests.RequestException, ValueError) as error:
            if self._keys:
                return  # keep verifying with the keys we have; retry after the interval
            raise PlayUnavailable(
                f"Google's push signing keys could not be fetched ({type(error).__name__})"
            ) from None
        self._keys = _parse_jwks(document)
        self._fetched_at = now


def _parse_jwks(document: Any) -> dict[str, jwt.PyJWK]:
    keys: dict[str, jwt.PyJWK] = {}
    entries = document.get("keys") if isinstance(document, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or not isinstance(entry.get("kid"), str):
            continue
        if entry.get("kty") != "RSA" or entry.get("alg", "RS256") != "RS256":
            continue
        try:
            keys[entry["kid"]] = jwt.PyJWK(entry, algorithm="RS256")
        except jwt.PyJWTError:
            continue
    return keys


class StaticKeys:
    """A fixed key set (tests, benchmarks, offline inspection)."""

    def __init__(self, jwks: Mapping[str, Any]) -> None:
        self._keys = _parse_jwks(jwks)

    def key(self, kid: str) -> jwt.PyJWK | None:
        return self._keys.get(kid)


@dataclass(frozen=True, slots=True)
class PushIdentity:
    """The verified claims of a push token."""

    email: str
    subject: str
    issued_at: datetime
    expires_at: datetime
    claims: Mapping[str, Any]


class PushAuthenticator:
    def __init__(
        self,
        keys: KeySource,
        clock: Clock,
        audience: str,
        service_account: str,
        skew: timedelta = timedelta(seconds=60),
    ) -> None:
        self._keys = keys
        self._clock = clock
        self._audience = audience
        self._email = service_account.encode()
        self._skew = skew.total_seconds()
        # Time is checked with the clock below, not by PyJWT (which reads the wall clock).
        self._options = {
            "verify_signature": True,
            "verify_exp": False,
            "verify_iat": False,
            "verify_nbf": False,
            "verify_aud": False,
            "verify_iss": False,
        }

    def authenticate(self, authorization: str | None) -> PushIdentity:
        token = _bearer(authorization)
        header = _header(token)
        if header.get("alg") != "RS256":
            raise _fail("invalid_signature", "the token is not signed with RS256")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise _fail("unknown_key", "the token names no signing key")
        key = self._keys.key(kid)
        if key is None:
            raise _fail("unknown_key", "the token is signed with a key Google does not publish")
        try:
            claims = jwt.decode(
                token, key=key.key, algorithms=["RS256"], options=cast(Any, self._options)
            )
        except jwt.InvalidSignatureError:
            raise _fail("invalid_signature", "the token's signature does not verify") from None
        except jwt.PyJWTError:
            raise _fail("malformed", "the token cannot be decoded") from None
        return self._check(claims)

    def _check(self, claims: dict[str, Any]) -> PushIdentity:
        if claims.get("iss") not in ISSUERS:
            raise _fail("wrong_issuer", "the token was not issued by accounts.google.com")
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if self._audience not in audiences:
            raise _fail("wrong_audience", "the token is for another audience")
        email = claims.get("email")
        if not isinstance(email, str) or not hmac.compare_digest(email.encode(), self._email):
            raise _fail("wrong_email", "the token is not for the configured push account")
        if claims.get("email_verified") is not True:
            raise _fail("email_unverified", "the token's email is not verified")
        exp, iat = claims.get("exp"), claims.get("iat")
        if not isinstance(exp, int | float) or not isinstance(iat, int | float):
            raise _fail("malformed", "the token has no exp or iat")
        now = self._clock.now().timestamp()
        if now >= exp + self._skew:
            raise _fail("expired", "the token has expired")
        if iat > now + self._skew:
            raise _fail("not_yet_valid", "the token was issued in the future")
        return PushIdentity(
            email=email,
            subject=str(claims.get("sub", "")),
            issued_at=datetime.fromtimestamp(iat, tz=self._clock.now().tzinfo),
            expires_at=datetime.fromtimestamp(exp, tz=self._clock.now().tzinfo),
            claims=claims,
        )


def _header(token: str) -> dict[str, Any]:
    """The JOSE header, read only to choose the key: PyJWT then parses and checks the whole
    token itself (PyJWT's own header reader costs as much as the signature check)."""
    segment, dot, _rest = token.partition(".")
    if not dot or not _BASE64URL.fullmatch(segment):
        raise _fail("malformed", "the bearer token is not a JWT")
    try:
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, binascii.Error):
        raise _fail("malformed", "the bearer token is not a JWT") from None
    if not isinstance(header, dict):
        raise _fail("malformed", "the bearer token is not a JWT")
    return header


def _bearer(authorization: str | None) -> str:
    if not authorization:
        raise _fail("missing_token", "the push has no Authorization header")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _fail("missing_token", "the Authorization header carries no bearer token")
    return token.strip()


def _fail(reason: str, message: str) -> PushUnauthenticated:
    return PushUnauthenticated(reason, message)
