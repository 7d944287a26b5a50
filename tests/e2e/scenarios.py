"""A world for lifecycle scenarios: the store emulator and a real engine process, wired.

The emulator runs in the test process and is reached by the engine over real HTTP (its store
APIs, OAuth and key endpoints); its notifications are POSTed to the engine's webhook
endpoints. The engine runs as `iap-engine serve`, on its own database. Store time is virtual
and starts well in the past, so instants are asked for with `?at=`.

`Customer` hides which store a scenario runs against: the same story is told for the App
Store and Google Play where both stores have it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from store_emulator.configuration import to_toml
from store_emulator.emulator import StoreEmulator
from store_emulator.serving import BackgroundServer
from tests.support.processes import EngineProcess

PREMIUM = "com.example.premium.monthly"
BASIC = "com.example.basic.monthly"
KEYS = {"service": "scenario-service", "support": "scenario-support", "admin": "scenario-admin"}
TICK = timedelta(seconds=1)


def iso(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class World:
    def __init__(self, emulator: StoreEmulator, engine: EngineProcess) -> None:
        self.emulator = emulator
        self.engine = engine
        self.http = requests.Session()
        self.http.trust_env = False

    @property
    def now(self) -> datetime:
        return self.emulator.now()

    def advance(self, by: str) -> None:
        report = self.emulator.advance(by)
        failed = [a for a in report.attempts if not a.ok]
        assert not failed, [a.describe() for a in failed]

    def deliver(self) -> None:
        with self.emulator.lock:
            attempts = self.emulator.deliver_pending()
        failed = [a for a in attempts if not a.ok]
        assert not failed, [a.describe() for a in failed]

    def call(self, method: str, path: str, role: str, **kwargs: Any) -> Any:
        response = self.http.request(
            method,
            f"{self.engine.url}{path}",
            headers={"Authorization": f"Bearer {KEYS[role]}"},
            timeout=30,
            **kwargs,
        )
        assert response.status_code == 200, response.text
        return response.json()

    def grants(self, user: str, at: datetime) -> dict[str, bool]:
        answer = self.call(
            "GET", f"/v1/users/{user}/entitlements", "service", params={"at": iso(at)}
        )
        return {g["entitlement"]: g["active"] for g in answer["entitlements"]}

    def entitled(self, user: str, at: datetime, entitlement: str = "premium") -> bool:
        return self.grants(user, at).get(entitlement, False)

    def lookup(self, query: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.call(
            "GET", "/v1/lookup", "support", params={"q": query}
        )["subscriptions"]
        return found

    def subscription_of(self, user: str) -> dict[str, Any]:
        found = self.lookup(user)
        assert len(found) == 1, found
        return found[0]


@contextmanager
def world(tmp_path: Path, database_url: str, *, start_days_ago: int = 400) -> Iterator[World]:
    emulator = StoreEmulator(start=datetime.now(UTC) - timedelta(days=start_days_ago))
    server = BackgroundServer(emulator.app()).start()
    engine: EngineProcess | None = None
    try:
        config = tmp_path / f"scenario-{hashlib.sha1(database_url.encode()).hexdigest()[:8]}.toml"
        engine = EngineProcess(config)
        emulator.set_targets(
            apple_url=f"{engine.url}/v1/notifications/apple",
            google_url=f"{engine.url}/v1/notifications/google",
            push_audience=f"{engine.url}/v1/notifications/google",
        )
        keys = "".join(
            f'[[auth.api_keys]]\nname = "{role}"\nrole = "{role}"\n'
            f'sha256 = "{hashlib.sha256(key.encode()).hexdigest()}"\n\n'
            for role, key in KEYS.items()
        )
        config.write_text(
            f'[database]\nurl = "{database_url}"\n\n'
            + keys
            + to_toml(emulator.engine_settings(server.url, tmp_path / "keys")),
            encoding="utf-8",
        )
        engine.start()
        yield World(emulator, engine)
    finally:
        if engine is not None:
            engine.stop()
        server.stop()


@dataclass
class Customer:
    """One app user with one subscription, in one store."""

    world: World
    user: str
    store: str  # "apple" | "google"
    key: str = ""  # Apple original transaction id; Google purchase token (the newest)

    # -- buying ---------------------------------------------------------------------------

    def buy(self, product: str = PREMIUM, offer: str | None = None) -> Customer:
        emulator = self.world.emulator
        with emulator.lock:
            if self.store == "apple":
                assert emulator.apple is not None
                sent = emulator.apple.subscribe(product, offer=offer)  # type: ignore[arg-type]
                self.key = sent.original_transaction_id or ""
                transaction_id = sent.transaction_id
            else:
                assert emulator.google is not None
                self.key = emulator.google.purchase(product, "monthly", offer, account_id=None)
            emulator.deliver_pending()
        self.register(transaction_id if self.store == "apple" else None, product)
        return self

    def register(self, transaction_id: str | None = None, product: str = PREMIUM) -> dict[str, Any]:
        """The app's backend hands the purchase to the engine for this user."""
        if self.store == "apple":
            body = {"app_user_id": self.user, "transaction_id": transaction_id or self.key}
        else:
            body = {"app_user_id": self.user, "product_id": product, "purchase_token": self.key}
        answer: dict[str, Any] = self.world.call(
            "POST", f"/v1/purchases/{self.store}", "service", json=body
        )
        return answer

    # -- what customers do in the store ---------------------------------------------------

    def _act(self, apple: str, google: str, *args: Any, **kwargs: Any) -> Any:
        emulator = self.world.emulator
        with emulator.lock:
            if self.store == "apple":
                assert emulator.apple is not None
                result = getattr(emulator.apple, apple)(self.key, *args, **kwargs)
            else:
                assert emulator.google is not None
                result = getattr(emulator.google, google)(self.key, *args, **kwargs)
        self.world.deliver()
        return result

    def cancel(self) -> None:
        self._act("cancel", "cancel")

    def uncancel(self) -> None:
        self._act("uncancel", "uncancel")

    def payment(self, *, failing: bool) -> None:
        self._act("set_payment", "set_payment", failing=failing)

    def change(self, product: str) -> None:
        if self.store == "apple":
            self._act("change_product", "change_product", product)
        else:
            self.key = self._act("change_product", "change_product", product, "monthly")

    def refund_current(self) -> None:
        self._act("refund_current", "refund")

    # -- what the engine says -------------------------------------------------------------

    def subscription(self) -> dict[str, Any]:
        return self.world.subscription_of(self.user)

    def periods(self) -> list[dict[str, Any]]:
        return self.subscription()["periods"]

    def entitled(self, at: datetime, entitlement: str = "premium") -> bool:
        return self.world.entitled(self.user, at, entitlement)
