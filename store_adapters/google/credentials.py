"""Service-account OAuth 2.0 for the Play Developer API (the JWT bearer grant, RFC 7523).

The key file Google Cloud issues (`type`, `client_email`, `private_key`, `private_key_id`,
`token_uri`) signs an RS256 assertion that is exchanged at `token_uri` for an access token.
The token is cached until shortly before it expires and shared by every thread; a 401 from
the API invalidates it once (`invalidate`) so the next call fetches a fresh one.

Neither the key nor any token is ever logged or put into an exception message.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import requests
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from iap_engine.service.ports import Clock
from store_adapters.google.errors import PlayNotConfigured, PlayUnavailable

SCOPE = "https://www.googleapis.com/auth/androidpublisher"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
DEFAULT_TOKEN_URI = "https://oauth2.googleapis.com/token"  # noqa: S105 (a URL)
KEY_SETTING = "google.service_account_file"
# Google's assertions may live at most an hour.
ASSERTION_LIFETIME = timedelta(hours=1)
# Refresh this long before the token's stated expiry, so no request carries a dying token.
REFRESH_MARGIN = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class ServiceAccount:
    client_email: str
    private_key_id: str
    token_uri: str
    private_key: RSAPrivateKey = field(repr=False)

    @classmethod
    def from_file(cls, path: str | Path) -> ServiceAccount:
        try:
            document = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise PlayNotConfigured(
                KEY_SETTING, f"{KEY_SETTING}: the key file {path} does not exist"
            ) from None
        except (OSError, ValueError):
            raise PlayNotConfigured(
                KEY_SETTING, f"{KEY_SETTING}: {path} is not a readable JSON key file"
            ) from None
        return cls.from_info(document, source=str(path))

    @classmethod
    def from_info(cls, document: Any, source: str = "the key") -> ServiceAccount:
        def problem(what: str) -> PlayNotConfigured:
            return PlayNotConfigured(
                KEY_SETTING,
                f"{KEY_SETTING}: {source} {what}; download a JSON key for the service account"
                " from Google Cloud (IAM > Service accounts > Keys)",
            )

        if not isinstance(document, dict) or document.get("type") != "service_account":
            raise problem('is not a service-account key (type must be "service_account")')
        values = {}
        for name in ("client_email", "private_key", "private_key_id"):
            value = document.get(name)
            if not isinstance(value, str) or not value:
                raise problem(f"has no {name}")
            values[name] = value
        token_uri = document.get("token_uri") or DEFAULT_TOKEN_URI
        if not isinstance(token_uri, str):
            raise problem("has a token_uri that is not a URL")
        try:
            key = load_pem_private_key(values["private_key"].encode(), password=None)
        except (ValueError, TypeError):
            raise problem("has a private_key that is not a PEM RSA key") from None
        if not isinstance(key, RSAPrivateKey):
            raise problem("has a private_key that is not an RSA key")
        return cls(
            client_email=values["client_email"],
            private_key_id=values["private_key_id"],
            token_uri=token_uri,
            private_key=key,
        )

    def assertion(self, now: datetime, scope: str = SCOPE) -> str:
        issued = int(now.timestamp())
        claims = {
            "iss": self.client_email,
            "scope": scope,
            "aud": self.token_uri,
            "iat": issued,
            "exp": issued + int(ASSERTION_LIFETIME.total_seconds()),
        }
        return jwt.encode(
            claims, self.private_key, algorithm="RS256", headers={"kid": self.private_key_id}
        )


@dataclass(frozen=True, slots=True)
class _Token:
    value: str = field(repr=False)
    refresh_at: datetime


class AccessTokens:
    """A thread-safe cache of one access token for one service account."""

    def __init__(
        self,
        account: ServiceAccount,
        session: requests.Session,
        clock: Clock,
        timeout: float | tuple[float, float] = (5.0, 15.0),
        scope: str = SCOPE,
    ) -> None:
        self._account = account
        self._session = session
        self._clock = clock
        self._timeout = timeout
        self._scope = scope
        self._lock = threading.Lock()
        self._token: _Token | None = None

    def token(self) -> str:
        with self._lock:
            current = self._token
            if current is None or self._clock.now() >= current.refresh_at:
                current = self._fetch()
                self._token = current
            return current.value

    def invalidate(self, token: str) -> None:
        """Forget `token` after the API refused it; a newer token (another thread's) stays."""
        with self._lock:
            if self._token is not None and self._token.value == token:
                self._token = None

    def _fetch(self) -> _Token:
        now = self._clock.now()
        try:
            response = self._session.post(
                self._account.token_uri,
                data={"grant_type": GRANT_TYPE, "assertion": self._account.assertion(now)},
                timeout=self._timeout,
            )
        except requests.RequestException as error:
            raise PlayUnavailable(
                f"the OAuth token endpoint could not be reached ({type(error).__name__})"
            ) from None
        if response.status_code in (400, 401, 403):
            raise PlayNotConfigured(
                KEY_SETTING,
                f"{KEY_SETTING}: the token endpoint refused the service-account key"
                f" ({_oauth_error(response)}); the key may be deleted or disabled, or the"
                " machine clock may be wrong",
            )
        if response.status_code != 200:
            raise PlayUnavailable(f"the OAuth token endpoint answered {response.status_code}")
        try:
            body = response.json()
            value = body["access_token"]
            lifetime = timedelta(seconds=int(body.get("expires_in", 3600)))
        except (ValueError, KeyError, TypeError):
            raise PlayUnavailable("the OAuth token endpoint answered without a token") from None
        if not isinstance(value, str) or not value:
            raise PlayUnavailable("the OAuth token endpoint answered without a token")
        margin = min(REFRESH_MARGIN, lifetime / 2)
        return _Token(value=value, refresh_at=now + lifetime - margin)


def _oauth_error(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return str(body["error"])
    return f"HTTP {response.status_code}"
