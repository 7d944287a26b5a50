"""Bearer tokens for the App Store Server API: ES256 JWTs signed with the .p8 key.

Header: alg ES256, kid, typ JWT. Claims: iss (issuer id), iat, exp (at most 60 minutes after
iat), aud "appstoreconnect-v1", bid (bundle id). A token is reused until shortly before it
expires, as Apple allows; time comes from the injected clock.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from iap_engine.service.ports import Clock

AUDIENCE = "appstoreconnect-v1"
DEFAULT_LIFETIME = timedelta(minutes=20)
MAX_LIFETIME = timedelta(minutes=60)
# Renew this long before expiry so a token never expires in flight.
RENEW_BEFORE = timedelta(minutes=1)


def load_signing_key(pem: bytes) -> ec.EllipticCurvePrivateKey:
    """The App Store Connect .p8 key (PKCS#8 PEM, P-256); ValueError if it is not one."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        raise ValueError("the App Store Server API key is not a PEM private key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("the App Store Server API key is not a P-256 (ES256) key")
    return key


class TokenSigner:
    def __init__(
        self,
        *,
        signing_key: bytes,
        key_id: str,
        issuer_id: str,
        bundle_id: str,
        clock: Clock,
        lifetime: timedelta = DEFAULT_LIFETIME,
    ) -> None:
        if not timedelta(minutes=2) <= lifetime <= MAX_LIFETIME:
            raise ValueError("a token lifetime must be between 2 and 60 minutes")
        self._key = load_signing_key(signing_key)
        self._key_id = key_id
        self._issuer_id = issuer_id
        self._bundle_id = bundle_id
        self._clock = clock
        self._lifetime = lifetime
        self._cached: tuple[str, float] | None = None
        self._lock = threading.Lock()

    def bearer(self) -> str:
        now = self._clock.now()
        with self._lock:
            cached = self._cached
            if cached is not None and now.timestamp() < cached[1]:
                return cached[0]
            issued = int(now.timestamp())
            expires = issued + int(self._lifetime.total_seconds())
            token = jwt.encode(
                {
                    "iss": self._issuer_id,
                    "iat": issued,
                    "exp": expires,
                    "aud": AUDIENCE,
                    "bid": self._bundle_id,
                },
                self._key,
                algorithm="ES256",
                headers={"kid": self._key_id, "typ": "JWT"},
            )
            self._cached = (token, expires - RENEW_BEFORE.total_seconds())
            return token
