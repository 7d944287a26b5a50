"""The emulated Google Play: its store state, keys, issued access tokens and faults.

`clock` is store time (purchase, order and event times); `wall_clock` is what transport
authentication runs on (push token iat/exp, the engine's OAuth assertions and the access
tokens issued for them), because the engine checks and signs those on real time. Tests that
run the engine on the same virtual clock leave `wall_clock` out and get one clock for both.
"""

from __future__ import annotations

import secrets
import threading
from collections import Counter, deque
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from store_emulator.clock import Clock
from store_emulator.google.faults import Faults
from store_emulator.google.keys import PushSigner, ServiceAccountKey
from store_emulator.google.state import PlayStore

TOKEN_PATH = "/google/oauth2/token"  # noqa: S105 (a path)
CERTS_PATH = "/google/oauth2/v3/certs"
ACCESS_TOKEN_LIFETIME = timedelta(hours=1)


class GooglePlay:
    def __init__(
        self,
        clock: Clock,
        package_name: str = "com.example.app",
        signing_key: RSAPrivateKey | None = None,
        *,
        wall_clock: Clock | None = None,
    ) -> None:
        """`signing_key` signs push tokens (a new one when None: tests pass one to save the
        key generation)."""
        self.clock = clock
        self.wall_clock = wall_clock or clock
        self.store = PlayStore(clock, package_name)
        self.signer = PushSigner(self.wall_clock, signing_key)
        self.faults = Faults()
        self._lock = threading.Lock()
        self._accounts: dict[str, ServiceAccountKey] = {}
        self._access_tokens: dict[str, datetime] = {}
        # Method and path of the latest Developer API requests, in order (for assertions),
        # and how many times each was asked in all (to count fetches per purchase).
        self.api_calls: deque[str] = deque(maxlen=10_000)
        self.call_counts: Counter[str] = Counter()
        self.tokens_issued = 0
        # Told (action, purchase token) when the developer cancels or revokes through the
        # API, so the matching notification can go out.
        self.listeners: list[Callable[[str, str], None]] = []

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
            self._access_tokens[token] = self.wall_clock.now() + ACCESS_TOKEN_LIFETIME
            self.tokens_issued += 1
        return token, int(ACCESS_TOKEN_LIFETIME.total_seconds())

    def access_token_valid(self, token: str) -> bool:
        with self._lock:
            expiry = self._access_tokens.get(token)
        return expiry is not None and self.wall_clock.now() < expiry

    def revoke_access_tokens(self) -> None:
        """Every issued access token stops working (the API answers 401)."""
        with self._lock:
            self._access_tokens.clear()

    def developer_changed(self, action: str, token: str) -> None:
        for listener in self.listeners:
            listener(action, token)

    def record_call(self, method: str, path: str) -> None:
        with self._lock:
            self.api_calls.append(f"{method} {path}")
            self.call_counts[f"{method} {path}"] += 1
