"""`StoreEmulator`: one local App Store and Google Play on a virtual clock.

    emulator = StoreEmulator(start=datetime(2026, 1, 1, tzinfo=UTC))
    emulator.set_targets(apple_url=engine + "/v1/notifications/apple",
                         google_url=engine + "/v1/notifications/google")
    sent = emulator.apple.subscribe("com.example.premium.monthly", app_account_token=uid)
    token = emulator.google.purchase("com.example.premium.monthly", "monthly")
    emulator.deliver_pending()                 # POSTs SUBSCRIBED and SUBSCRIPTION_PURCHASED
    report = emulator.advance("P1M")           # renewals happen, and are delivered
    with serving(emulator.app()) as server: ...  # store APIs + /control, one ASGI app

Time: `clock` (a `VirtualClock`) is store time: every date either store signs or reports.
`wall_clock` (real time unless given) is what transport authentication runs on: the push
OIDC tokens' iat/exp, and the checks of the engine's bearer JWTs and OAuth assertions. Start
the virtual clock in the past (real now minus the scenario's length) so that nothing the
stores sign is in the engine's future.

`advance(by)` and `advance_to(t)` move the virtual clock step by step to each instant
something is scheduled (period ends, grace and hold ends, billing retry ends, pause starts and
ends, deferred changes, delivery retries, delayed deliveries), in order, and at each one do
what the stores do and attempt the deliveries due; they return once every POST of the way has
been answered. Customers' actions (`emulator.apple.*`, `emulator.google.*`) queue their
notifications; `deliver_pending()` sends what is due now. Calls are serialized by `lock`.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import requests
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from fastapi import FastAPI

from store_emulator import periods
from store_emulator.apple.emulator import AppleEmulator
from store_emulator.apple.lifecycle import AppleLifecycle
from store_emulator.apple.store import AppleEnvironment
from store_emulator.apple.store import Notification as AppleNotification
from store_emulator.catalogue import DEMO, Catalogue
from store_emulator.clock import Clock, SystemClock, VirtualClock
from store_emulator.configuration import to_toml
from store_emulator.control import router as control_router
from store_emulator.delivery import Attempt, Courier, Delivery, Targets
from store_emulator.google.app import router as google_router
from store_emulator.google.lifecycle import PlayLifecycle
from store_emulator.google.play import CERTS_PATH, GooglePlay
from store_emulator.message import Message, StoreName, iso
from store_emulator.policy import Action, DeliveryPolicy, Rule

# The push audience when neither one nor a push URL is configured.
DEFAULT_AUDIENCE = "iap-engine-emulator"
# Steps at one instant before advancing concludes something loops (a bug, not a store).
_MAX_STEPS_AT_ONE_INSTANT = 10_000


@dataclass(frozen=True)
class AppleOptions:
    bundle_id: str = "com.example.app"
    app_apple_id: int | None = 1234567890
    environment: AppleEnvironment = "Sandbox"
    # Billing Grace Period (3, 16 or 28 days); None: the app has it off.
    grace_period_days: int | None = 16
    # Apple retries failed deliveries in Production only; True retries sandbox ones too.
    sandbox_retries: bool = False
    shared_secret: str | None = None


@dataclass(frozen=True)
class GoogleOptions:
    package_name: str = "com.example.app"
    # RSA keys (generated when None: tests pass theirs to save the key generation).
    push_signing_key: RSAPrivateKey | None = None
    service_account_key: RSAPrivateKey | None = None


@dataclass(frozen=True)
class Report:
    """What moving the clock or delivering did: notifications emitted, attempts made."""

    now: datetime
    emitted: list[Message] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        return {
            "now": iso(self.now),
            "emitted": [m.describe() for m in self.emitted],
            "attempts": [a.describe() for a in self.attempts],
        }


class StoreEmulator:
    def __init__(
        self,
        *,
        start: datetime | None = None,
        apple: AppleOptions | bool = True,
        google: GoogleOptions | bool = True,
        catalogue: Catalogue = DEMO,
        wall_clock: Clock | None = None,
        session: requests.Session | None = None,
    ) -> None:
        """`apple`/`google`: options, True for the defaults, False to leave the store out."""
        self.wall_clock: Clock = wall_clock or SystemClock()
        self.clock = VirtualClock(start or self.wall_clock.now())
        self.catalogue = catalogue
        self.lock = threading.RLock()
        self.messages: list[Message] = []  # everything emitted, in order
        self._inbox: list[Message] = []
        self._inbox_lock = threading.Lock()
        if session is None:
            session = requests.Session()
            session.trust_env = False  # deliver to the configured URL, never via a proxy
        self.policy = DeliveryPolicy()
        self.courier = Courier(
            session=session,
            policy=self.policy,
            headers=self._headers,
            on_attempt=self._attempted,
        )
        self.apple_options: AppleOptions | None = AppleOptions() if apple is True else apple or None
        self.google_options: GoogleOptions | None = (
            GoogleOptions() if google is True else google or None
        )
        self.apple: AppleLifecycle | None = None
        self.google: PlayLifecycle | None = None
        if self.apple_options is not None:
            self.apple = self._build_apple(self.apple_options)
        if self.google_options is not None:
            self.google = self._build_google(self.google_options)

    def _build_apple(self, options: AppleOptions) -> AppleLifecycle:
        emulator = AppleEmulator(
            clock=self.clock,
            wall_clock=self.wall_clock,
            bundle_id=options.bundle_id,
            app_apple_id=options.app_apple_id,
            environment=options.environment,
            shared_secret=options.shared_secret,
        )
        self.catalogue.install_apple(emulator.store)
        grace = options.grace_period_days
        lifecycle = AppleLifecycle(
            emulator, grace_period=None if grace is None else timedelta(days=grace)
        )
        emulator.store.listeners.append(self._apple_notified)
        return lifecycle

    def _build_google(self, options: GoogleOptions) -> PlayLifecycle:
        play = GooglePlay(
            self.clock,
            options.package_name,
            signing_key=options.push_signing_key,
            wall_clock=self.wall_clock,
        )
        self.catalogue.install_google(play.store)
        return PlayLifecycle(play, self._emit)

    # -- delivery targets and policy ------------------------------------------------------

    @property
    def targets(self) -> Targets:
        return self.courier.targets

    def set_targets(
        self,
        *,
        apple_url: str | None = None,
        google_url: str | None = None,
        push_audience: str | None = None,
        push_service_account: str | None = None,
    ) -> Targets:
        """Set the given delivery targets (the others stay as they are)."""
        with self.lock:
            targets = self.courier.targets
            if apple_url is not None:
                targets.apple_url = apple_url or None
            if google_url is not None:
                targets.google_url = google_url or None
            if push_audience is not None:
                targets.push_audience = push_audience or None
            if push_service_account is not None:
                targets.push_service_account = push_service_account
            return targets

    @property
    def push_audience(self) -> str:
        return self.targets.audience or DEFAULT_AUDIENCE

    def add_rule(
        self,
        action: Action,
        *,
        store: StoreName | None = None,
        types: tuple[str, ...] | list[str] = (),
        count: int | None = None,
        until: datetime | None = None,
        order: Literal["reverse", "shuffle"] = "reverse",
        seed: int = 0,
    ) -> Rule:
        """Add a delivery policy rule (see `store_emulator.policy`)."""
        rule = Rule(action, store, tuple(types), count, until, order, seed)
        with self.lock:
            self._drain()
            return self.policy.add(rule)

    def remove_rule(self, rule_id: int) -> list[Attempt]:
        """Remove a rule; what it holds back is released and sent now."""
        with self.lock:
            if not self.policy.remove(rule_id):
                raise LookupError(f"no delivery rule {rule_id}")
            return self.release(rule_id=rule_id)

    def clear_rules(self) -> list[Attempt]:
        with self.lock:
            self.policy.clear()
            return self.release()

    def release(
        self, *, store: StoreName | None = None, rule_id: int | None = None
    ) -> list[Attempt]:
        """Send held-back (delayed or reordered) notifications now."""
        with self.lock:
            self._drain()
            self.courier.release(self.clock.now(), store=store, rule_id=rule_id)
            return self.courier.deliver_due(self.clock.now())

    # -- time and delivery ----------------------------------------------------------------

    def now(self) -> datetime:
        return self.clock.now()

    def deliver_pending(self) -> list[Attempt]:
        """Attempt every delivery due now; returns once each POST was answered."""
        with self.lock:
            self._drain()
            return self.courier.deliver_due(self.clock.now())

    def advance(self, by: timedelta | str | float) -> Report:
        """Move store time on by a `timedelta`, an ISO 8601 duration ("P1M", "PT6H": months
        the calendar way) or a number of seconds, doing what the stores do on the way."""
        duration = by if isinstance(by, timedelta) else periods.parse(by)
        if isinstance(duration, timedelta) and duration < timedelta(0):
            raise ValueError("time does not run backwards")
        with self.lock:
            return self.advance_to(periods.add(self.clock.now(), duration))

    def advance_to(self, instant: datetime) -> Report:
        if instant.tzinfo is None:
            raise ValueError("give an aware (UTC) datetime")
        with self.lock:
            if instant < self.clock.now():
                raise ValueError("time does not run backwards")
            mark = len(self.messages)
            attempts = self.deliver_pending()
            steps, last = 0, self.clock.now()
            while (following := self._next_instant()) is not None and following <= instant:
                following = max(following, self.clock.now())
                steps = steps + 1 if following == last else 0
                if steps > _MAX_STEPS_AT_ONE_INSTANT:
                    raise RuntimeError(f"the emulator makes no progress at {following}")
                last = following
                self.clock.advance_to(following)
                if self.apple is not None:
                    self.apple.run_due(following)
                if self.google is not None:
                    self.google.run_due(following)
                attempts += self.deliver_pending()
            self.clock.advance_to(instant)
            return Report(self.clock.now(), self.messages[mark:], attempts)

    def _next_instant(self) -> datetime | None:
        self._drain()
        candidates = [self.courier.next_due()]
        if self.apple is not None:
            candidates.append(self.apple.next_due())
        if self.google is not None:
            candidates.append(self.google.next_due())
        return min((c for c in candidates if c is not None), default=None)

    def emitted_since(self, mark: int) -> list[Message]:
        with self.lock:
            self._drain()
            return self.messages[mark:]

    # -- serving and configuration --------------------------------------------------------

    def app(self) -> FastAPI:
        """The one ASGI app: the App Store Server API (Production at /, Sandbox at /sandbox),
        the Play Developer API with its OAuth token endpoint and JWKS, and `/control`."""
        app = FastAPI(
            title="iap-engine store emulator",
            description=(
                "A local App Store and Google Play on a virtual clock. The stores' own APIs are"
                " served at their usual paths (not listed here); `/control` drives the"
                " customers, the clock and the deliveries."
            ),
            version="1",
        )
        if self.apple is not None:
            self.apple.emulator.include_routes(app)
        if self.google is not None:
            app.include_router(google_router(self.google.play), include_in_schema=False)
        app.include_router(control_router(self), prefix="/control")
        return app

    def engine_settings(self, base_url: str, directory: str | Path) -> dict[str, Any]:
        """The engine's `[apple]`, `[google]` and `[products]` settings for talking to this
        emulator served at `base_url`; key files are written to `directory`."""
        base = base_url.rstrip("/")
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        settings: dict[str, Any] = {}
        if self.apple is not None:
            emulator = self.apple.emulator
            root = folder / "apple-root.cer"
            root.write_bytes(emulator.root_der)
            key = folder / "apple-api-key.p8"
            key.write_bytes(emulator.private_key_pem)
            key.chmod(0o600)
            apple: dict[str, Any] = {
                "bundle_id": emulator.bundle_id,
                "environments": [emulator.store.default_environment],
                "root_certificates": [str(root)],
                "issuer_id": emulator.issuer_id,
                "key_id": emulator.key_id,
                "private_key_path": str(key),
                "api_base_url": base,
                "shared_secret": emulator.shared_secret,
                "verify_receipt_url": base + "/verifyReceipt",
            }
            if emulator.app_apple_id is not None:
                apple["app_apple_id"] = emulator.app_apple_id
            settings["apple"] = apple
        if self.google is not None:
            play = self.google.play
            assert self.google_options is not None
            account = play.write_service_account(
                folder, base, private_key=self.google_options.service_account_key
            )
            settings["google"] = {
                "package_name": play.package_name,
                "service_account_file": str(account),
                "api_base_url": base,
                "pubsub_audience": self.push_audience,
                "pubsub_service_account": self.targets.push_service_account,
                "oidc_certs_url": base + CERTS_PATH,
            }
        settings["products"] = self.catalogue.engine_products()
        return settings

    def engine_config(self, base_url: str, directory: str | Path) -> str:
        """`engine_settings` as a TOML fragment for the engine's config file."""
        return to_toml(self.engine_settings(base_url, directory))

    def state(self) -> dict[str, Any]:
        """Everything the emulator holds, for people and tests."""
        with self.lock:
            self._drain()
            return {
                "now": iso(self.clock.now()),
                "wall_clock": iso(self.wall_clock.now()),
                "next_event_at": iso(self._next_instant()),
                "apple": self.apple.describe() if self.apple is not None else None,
                "google": self.google.describe() if self.google is not None else None,
                "delivery": {
                    "targets": self.targets.describe(),
                    "policy": [r.describe() for r in self.policy.rules],
                    "deliveries": self.courier.counts(),
                },
            }

    def deliveries(self, store: StoreName | None = None) -> list[Delivery]:
        with self.lock:
            self._drain()
            return [d for d in self.courier.deliveries if store is None or d.message.store == store]

    # -- wiring ---------------------------------------------------------------------------

    def _emit(self, message: Message) -> None:
        # Also called from the API threads (a test notification, a developer revoke): the
        # message waits here until the next delivery pass picks it up, in emission order.
        with self._inbox_lock:
            self._inbox.append(message)
            self.messages.append(message)

    def _drain(self) -> None:
        with self._inbox_lock:
            waiting, self._inbox = self._inbox, []
        for message in waiting:
            self.courier.post(message)

    def _apple_notified(self, notification: AppleNotification) -> None:
        assert self.apple_options is not None
        retried = notification.environment == "Production" or self.apple_options.sandbox_retries
        self._emit(
            Message(
                store="apple",
                notification_type=notification.notification_type,
                subtype=notification.subtype,
                emitted_at=notification.signed_date,
                body=json.dumps(notification.body).encode(),
                notification_id=notification.notification_uuid,
                key=notification.original_transaction_id,
                retried=retried,
            )
        )

    def _headers(self, message: Message, targets: Targets) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if message.store == "google" and self.google is not None:
            # Pub/Sub mints a fresh OIDC token for each push attempt, on real time.
            token = self.google.play.signer.mint(
                targets.audience or DEFAULT_AUDIENCE, targets.push_service_account
            )
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def _attempted(self, attempt: Attempt) -> None:
        if attempt.message.store != "apple" or self.apple is None:
            return
        if attempt.ok:
            result = "SUCCESS"
        elif attempt.status is not None:
            result = "UNSUCCESSFUL_HTTP_RESPONSE_CODE"
        elif attempt.error == "timeout":
            result = "TIMED_OUT"
        else:
            result = "NO_RESPONSE"
        self.apple.store.record_attempt(attempt.message.notification_id, attempt.at, result)
