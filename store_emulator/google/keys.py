"""The emulator's keys: service-account key files, and the key that signs push tokens."""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

from store_emulator.clock import Clock

GOOGLE_ISSUER = "https://accounts.google.com"


def new_rsa_key() -> RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass(frozen=True)
class ServiceAccountKey:
    """A service account the emulator's OAuth endpoint accepts."""

    client_email: str
    private_key_id: str
    private_key: RSAPrivateKey = field(repr=False)

    @classmethod
    def generate(
        cls, name: str = "play-api", private_key: RSAPrivateKey | None = None
    ) -> ServiceAccountKey:
        return cls(
            client_email=f"{name}@emulator-project.iam.gserviceaccount.com",
            private_key_id=secrets.token_hex(20),
            private_key=private_key or new_rsa_key(),
        )

    @property
    def public_key(self) -> RSAPublicKey:
        return self.private_key.public_key()

    def info(self, token_uri: str) -> dict[str, str]:
        """The JSON key file's content, shaped like Google Cloud's."""
        pem = self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        return {
            "type": "service_account",
            "project_id": "emulator-project",
            "private_key_id": self.private_key_id,
            "private_key": pem,
            "client_email": self.client_email,
            "client_id": "100000000000000000000",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": token_uri,
        }

    def write(self, path: str | Path, token_uri: str) -> Path:
        target = Path(path)
        target.write_text(json.dumps(self.info(token_uri), indent=2), encoding="utf-8")
        target.chmod(0o600)
        return target


class PushSigner:
    """Signs Pub/Sub push tokens (OIDC ID tokens) and publishes their keys as a JWKS.

    `clock` dates the tokens: the wall clock when the engine checks them on real time."""

    def __init__(self, clock: Clock, key: RSAPrivateKey | None = None) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str, RSAPrivateKey] = {}
        self.current_kid = self.rotate(key)

    def rotate(self, key: RSAPrivateKey | None = None) -> str:
        """Publish a new key and sign with it from now on; older keys stay published."""
        kid = secrets.token_hex(20)
        with self._lock:
            self._keys[kid] = key or new_rsa_key()
            self.current_kid = kid
        return kid

    def retire(self, kid: str) -> None:
        with self._lock:
            self._keys.pop(kid, None)

    def jwks(self) -> dict[str, Any]:
        with self._lock:
            keys = list(self._keys.items())
        published = []
        for kid, key in keys:
            entry = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
            entry.update({"kid": kid, "alg": "RS256", "use": "sig"})
            published.append(entry)
        return {"keys": published}

    def mint(
        self,
        audience: str,
        email: str,
        *,
        lifetime: timedelta = timedelta(hours=1),
        issued_ago: timedelta = timedelta(0),
        email_verified: bool = True,
        issuer: str = GOOGLE_ISSUER,
        kid: str | None = None,
        key: RSAPrivateKey | None = None,
    ) -> str:
        """A token shaped like the ones Pub/Sub push sends (claims as Google's)."""
        now = self._clock.now() - issued_ago
        issued = int(now.timestamp())
        use_kid = kid or self.current_kid
        with self._lock:
            signing_key = key or self._keys.get(use_kid) or self._keys[self.current_kid]
        claims = {
            "iss": issuer,
            "aud": audience,
            "azp": "100000000000000000001",
            "sub": "100000000000000000001",
            "email": email,
            "email_verified": email_verified,
            "iat": issued,
            "exp": issued + int(lifetime.total_seconds()),
        }
        return jwt.encode(claims, signing_key, algorithm="RS256", headers={"kid": use_kid})
