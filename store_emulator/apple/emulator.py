"""`AppleEmulator`: everything a test or the sandbox needs of a local App Store, wired.

    emulator = AppleEmulator(clock=VirtualClock(start))
    emulator.store.add_product(Product("premium.monthly", "auto_renewable", 9990,
                                       period=timedelta(days=30), group="premium"))
    sent = emulator.store.subscribe("premium.monthly")      # a signed SUBSCRIBED notification
    with serving(emulator.app()) as server:                   # the App Store Server API
        ... AppStoreServerClient(base_url=server.url, **emulator.client_credentials()) ...

The engine trusts `emulator.root_der` (as `apple.root_certificates`) and calls the API
with `emulator.private_key_pem`, `key_id` and `issuer_id`.

`clock` is store time (every date Apple signs); `wall_clock` checks the API's bearer tokens,
which the engine signs on real time. Tests that run the engine on the same virtual clock
leave `wall_clock` out and get the store clock for both.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import FastAPI

from store_emulator.apple.api import ApiCredentials, RequestLog, include_routes
from store_emulator.apple.certificates import CertificateAuthority, SigningChain
from store_emulator.apple.faults import Faults
from store_emulator.apple.signer import JwsSigner
from store_emulator.apple.store import AppleEnvironment, AppleStore, Clock


class AppleEmulator:
    def __init__(
        self,
        *,
        clock: Clock,
        wall_clock: Clock | None = None,
        bundle_id: str = "com.example.app",
        app_apple_id: int | None = 1234567890,
        environment: AppleEnvironment = "Sandbox",
        shared_secret: str | None = None,
        page_size: int = 20,
    ) -> None:
        self.clock = clock
        self.wall_clock = wall_clock or clock
        self.bundle_id = bundle_id
        self.app_apple_id = app_apple_id
        # The chain must be valid at every signedDate (store time) and now (wall time).
        earliest = min(clock.now(), self.wall_clock.now())
        latest = max(clock.now(), self.wall_clock.now())
        self.authority = CertificateAuthority(earliest)
        self.chain: SigningChain = self.authority.issue_leaf(
            earliest - timedelta(days=30), latest + timedelta(days=730)
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
        """Keyword arguments for `AppStoreServerClient` (add session, environment, base_url);
        the client signs its tokens on the wall clock, as the emulator checks them."""
        return {
            "signing_key": self.private_key_pem,
            "key_id": self.key_id,
            "issuer_id": self.issuer_id,
            "bundle_id": self.bundle_id,
            "clock": self.wall_clock,
        }

    def app(self) -> FastAPI:
        """This App Store's API alone."""
        app = FastAPI(title="Emulated App Store Server API", docs_url=None, redoc_url=None)
        self.include_routes(app)
        return app

    def include_routes(self, app: FastAPI) -> None:
        """Serve this App Store's API from `app` (next to other routes)."""
        include_routes(
            app,
            self.store,
            self.credentials,
            faults=self.faults,
            log=self.requests,
            page_size=self.page_size,
            shared_secret=self.shared_secret,
            wall_clock=self.wall_clock,
        )
