"""`AppleEmulator`: everything a test or the sandbox needs of a local App Store, wired.

    emulator = AppleEmulator(clock=VirtualClock(start))
    emulator.store.add_product(Product("premium.monthly", "auto_renewable", 9990,
                                       period=timedelta(days=30), group="premium"))
    sent = emulator.store.subscribe("premium.monthly")      # a signed SUBSCRIBED notification
    with serving(emulator.app()) as server:                   # the App Store Server API
        ... AppStoreServerClient(base_url=server.url, **emulator.client_credentials()) ...

The engine trusts `emulator.root_der` (as `apple.root_certificates`) and calls the API
with `emulator.private_key_pem`, `key_id` and `issuer_id`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import FastAPI

from store_emulator.apple.api import ApiCredentials, RequestLog, create_app
from store_emulator.apple.certificates import CertificateAuthority, SigningChain
from store_emulator.apple.faults import Faults
from store_emulator.apple.signer import JwsSigner
from store_emulator.apple.store import AppleEnvironment, AppleStore, Clock


class AppleEmulator:
    def __init__(
        self,
        *,
        clock: Clock,
        bundle_id: str = "com.example.app",
        app_apple_id: int | None = 1234567890,
        environment: AppleEnvironment = "Sandbox",
        shared_secret: str | None = None,
        page_size: int = 20,
    ) -> None:
        now = clock.now()
        self.clock = clock
        self.bundle_id = bundle_id
        self.app_apple_id = app_apple_id
        self.authority = CertificateAuthority(now)
        self.chain: SigningChain = self.authority.issue_leaf(
            now - timedelta(days=30), now + timedelta(days=730)
        )
        self.signer = JwsSigner(self.chain)
        self.store = AppleStore(
            clock=clock,
            signer=self.signer,
            bundle_id=bundle_id,
            app_apple_id=app_apple_id,
            environment=environment,
        )
        self.credentials, self.private_key_pem = ApiCredentials.generate(bundle_id)
        # Not a secret: the emulator accepts whatever it is told to (derived by default).
        self.shared_secret = shared_secret or f"emulator-{bundle_id}"
        self.faults = Faults()
        self.requests = RequestLog()
        self.page_size = page_size

    @property
    def root_der(self) -> bytes:
        return self.chain.root_der

    @property
    def key_id(self) -> str:
        return self.credentials.key_id

    @property
    def issuer_id(self) -> str:
        return self.credentials.issuer_id

    def client_credentials(self) -> dict[str, Any]:
        """Keyword arguments for `AppStoreServerClient` (add session, environment, base_url)."""
        return {
            "signing_key": self.private_key_pem,
            "key_id": self.key_id,
            "issuer_id": self.issuer_id,
            "bundle_id": self.bundle_id,
            "clock": self.clock,
        }

    def app(self) -> FastAPI:
        return create_app(
            self.store,
            self.credentials,
            faults=self.faults,
            log=self.requests,
            page_size=self.page_size,
            shared_secret=self.shared_secret,
        )
