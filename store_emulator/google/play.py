"""The emulated Google Play: its store state, keys, issued access tokens and faults."""

from __future__ import annotations

import secrets
import threading
from collections import deque
from datetime import datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from store_emulator.clock import VirtualClock
from store_emulator.google.faults import Faults
from store_emulator.google.keys import PushSigner, ServiceAccountKey
from store_emulator.google.state import PlayStore

TOKEN_PATH = "/google/oauth2/token"  # noqa: S105 (a path)
CERTS_PATH = "/google/oauth2/v3/certs"
ACCESS_TOKEN_LIFETIME = timedelta(hours=1)


class GooglePlay:
    def __init__(
        self,
        clock: VirtualClock,
        package_name: str = "com.example.app",
        signing_key: RSAPrivateKey | None = None,
    ) -> None:
        """`signing_key` signs push tokens (a new one when None: tests pass one to save the
        key generation)."""
        self.clock = clock
        self.store = PlayStore(clock, package_name)
        self.signer = PushSigner(clock, signing_key)
        self.faults = Faults()
        self._lock = threading.Lock()
        self._accounts: dict[str, ServiceAccountKey] = {}
        self._access_tokens: dict[str, datetime] = {}
        # Method and path of the latest Developer API requests, in order (for assertions).
        self.api_calls: deque[str] = deque(maxlen=10_000)
        self.tokens_issued = 0

    @property
    def package_name(self) -> str:
        return self.store.package_name

    # -- service accounts and OAuth -------------------------------------------------------

    def add_service_account(self, key: ServiceAccountKey | None = None) -> ServiceAccountKey:
        key = key or ServiceAccountKey.generate()
        with self._lock:
            self._accounts[key.private_key_id] = key
        return key

    def write_service_account(
        self, directory: str | Path, base_url: str, private_key: RSAPrivateKey | None = None
    ) -> Path:
        """Register a new service account and write its JSON key file (token_uri here)."""
        key = self.add_service_account(ServiceAccountKey.generate(private_key=private_key))
        return key.write(Path(directory) / "service-account.json", base_url + TOKEN_PATH)

    def account(self, kid: str) -> ServiceAccountKey | None:
        with self._lock:
            return self._accounts.get(kid)

    def issue_access_token(self) -> tuple[str, int]:
        token = "ya29.emulator-" + secrets.token_urlsafe(32)
        with self._lock:
            self._access_tokens[token] = self.clock.now() + ACCESS_TOKEN_LIFETIME
            self.tokens_issued += 1
        return token, int(ACCESS_TOKEN_LIFETIME.total_seconds())

    def access_token_valid(self, token: str) -> bool:
        with self._lock:
            expiry = self._access_tokens.get(token)
        return expiry is not None and self.clock.now() < expiry

    def revoke_access_tokens(self) -> None:
        """Every issued access token stops working (the API answers 401)."""
        with self._lock:
            self._access_tokens.clear()

    def record_call(self, method: str, path: str) -> None:
        with self._lock:
            self.api_calls.append(f"{method} {path}")
