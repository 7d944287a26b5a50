"""`iap-engine sandbox`: the engine and a local App Store + Google Play, with a customer journey.

Everything runs on this machine with no store account: a SQLite file in a temporary folder,
the store emulator on a virtual clock, and the engine's HTTP API, both served on loopback.
A scripted journey (purchases, renewals, a cancellation that keeps access to the end of the
paid period, a refund, an account deletion followed by renewals that are still tracked) is
played through the real HTTP paths; after each step the customer's entitlement is printed.
Then both keep serving so the API can be explored, until Ctrl-C (or at once with `--exit`).

Store time is virtual and runs from about three months ago up to about now, so that nothing
the emulator signs lies in the engine's future.
"""

from __future__ import annotations

import hashlib
import secrets
import signal
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import requests

from iap_engine.api.views import iso
from iap_engine.bootstrap import build_app, upgrade_database, wire
from iap_engine.settings import load_settings
from store_emulator.configuration import to_toml
from store_emulator.emulator import StoreEmulator
from store_emulator.serving import BackgroundServer, free_port

PREMIUM = "com.example.premium.monthly"
# The journey advances store time by 8 days and three months; it starts this long ago, so it
# ends about a week before now and nothing the stores sign lies in the engine's future.
JOURNEY = timedelta(days=110)


@dataclass(frozen=True)
class Keys:
    service: str
    support: str
    admin: str

    @classmethod
    def generate(cls) -> Keys:
        return cls(
            *(f"sandbox-{role}-{secrets.token_urlsafe(12)}" for role in ("svc", "sup", "adm"))
        )


def run_sandbox(
    *,
    directory: Path | None,
    port: int | None,
    emulator_port: int | None,
    exit_after: bool,
    out: TextIO,
) -> int:
    folder = directory or Path(tempfile.mkdtemp(prefix="iap-engine-sandbox-"))
    folder.mkdir(parents=True, exist_ok=True)
    keys = Keys.generate()
    now = datetime.now(UTC).replace(microsecond=0)
    emulator = StoreEmulator(start=now - JOURNEY)
    store_server = BackgroundServer(emulator.app(), port=emulator_port)
    engine_port = port or free_port()
    engine_url = f"http://127.0.0.1:{engine_port}"
    emulator.set_targets(
        apple_url=f"{engine_url}/v1/notifications/apple",
        google_url=f"{engine_url}/v1/notifications/google",
        push_audience=f"{engine_url}/v1/notifications/google",
    )
    config = folder / "engine.toml"
    config.write_text(_engine_config(emulator, store_server.url, folder, keys), encoding="utf-8")
    settings = load_settings(config)
    upgrade_database(settings)
    wiring = wire(settings)
    engine_server = BackgroundServer(build_app(wiring), port=engine_port)
    store_server.start()
    engine_server.start()
    try:
        print(f"iap-engine sandbox in {folder}", file=out)
        print(f"  engine   {engine_url}   (API docs: {engine_url}/docs)", file=out)
        print(f"  emulator {store_server.url}   (control API: {store_server.url}/docs)", file=out)
        print(f"  store time starts {iso(emulator.now())}\n", file=out)
        Journey(emulator, engine_url, keys, out).play()
        _explain(out, folder, config, engine_url, store_server.url, keys)
        if not exit_after:
            _wait_for_interrupt(out)
    finally:
        engine_server.stop()
        store_server.stop()
        wiring.close()
    return 0


def _engine_config(emulator: StoreEmulator, store_url: str, folder: Path, keys: Keys) -> str:
    api_keys = "".join(
        f'[[auth.api_keys]]\nname = "sandbox-{role}"\nrole = "{role}"\n'
        f'sha256 = "{_digest(key)}"\n\n'
        for role, key in (
            ("service", keys.service),
            ("support", keys.support),
            ("admin", keys.admin),
        )
    )
    database = f'[database]\nurl = "sqlite:///{folder / "sandbox.db"}"\n\n'
    stores = to_toml(emulator.engine_settings(store_url, folder))
    return "# written by `iap-engine sandbox`\n\n" + database + api_keys + stores


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class Journey:
    """The scripted customers, told step by step with their entitlement after each step."""

    def __init__(self, emulator: StoreEmulator, engine_url: str, keys: Keys, out: TextIO) -> None:
        self.emulator = emulator
        self.engine = engine_url
        self.keys = keys
        self.out = out
        self.http = requests.Session()
        self.http.trust_env = False

    def play(self) -> None:
        apple = self.emulator.apple
        google = self.emulator.google
        assert apple is not None
        assert google is not None

        alice = self.step(
            "Apple",
            "alice",
            "buys premium monthly with a one-week free trial",
            lambda: apple.subscribe(PREMIUM, offer="trial"),
            register=True,
        )
        bob_token = self.step(
            "Google",
            "bob",
            "buys premium monthly (his account id rides on the purchase)",
            lambda: google.purchase(PREMIUM, "monthly", account_id="bob"),
        )
        carol = self.step(
            "Apple",
            "carol",
            "buys premium monthly",
            lambda: apple.subscribe(PREMIUM),
            register=True,
        )

        self.advance("P8D", "the trial ends: Alice's first paid month starts")
        self.advance("P1M", "a month passes: every subscription renews")
        self.step(
            "Apple",
            "alice",
            "turns auto-renew off in the App Store (she keeps what she paid)",
            lambda: apple.cancel(alice.original_transaction_id or ""),
        )
        self.step(
            "Google",
            "bob",
            "gets this month refunded by Google Play: access ends at once",
            lambda: google.refund(bob_token),
        )
        self.delete_account("carol")
        self.advance(
            "P1M",
            "a month passes: Alice's paid month runs out; Bob's and Carol's renew"
            " (a refund does not cancel)",
        )
        self.advance("P1M", "another month: Carol's subscription still renews and is tracked")
        self.lookup(carol.original_transaction_id or "")

    # -- steps ---------------------------------------------------------------------------

    def step(
        self,
        store: str,
        customer: str,
        what: str,
        action: Callable[[], Any],
        *,
        register: bool = False,
    ) -> Any:
        with self.emulator.lock:
            result = action()
            self.emulator.deliver_pending()
        self.say(f"{store:6} {customer:5} {what}")
        if register:
            self.register_apple(customer, result.transaction_id)
        self.show(customer)
        return result

    def advance(self, by: str, what: str) -> None:
        report = self.emulator.advance(by)
        kinds = sorted({f"{m.store} {m.notification_type}" for m in report.emitted})
        self.say(f"{'':12} {what}")
        if kinds:
            print(f"{'':20}stores sent: {', '.join(kinds)}", file=self.out)
        for customer in ("alice", "bob"):
            self.show(customer)

    def register_apple(self, user: str, transaction_id: str | None) -> None:
        """What the app's backend does after a purchase: hand it to the engine."""
        answer = self.http.post(
            f"{self.engine}/v1/purchases/apple",
            json={"app_user_id": user, "transaction_id": transaction_id},
            headers=self._auth(self.keys.service),
            timeout=30,
        )
        answer.raise_for_status()
        print(f"{'':20}backend registers the purchase for {user}", file=self.out)

    def delete_account(self, user: str) -> None:
        answer = self.http.delete(
            f"{self.engine}/v1/users/{user}", headers=self._auth(self.keys.admin), timeout=30
        )
        answer.raise_for_status()
        self.say(f"{'App':6} {user:5} deletes her app account")
        for left in answer.json()["still_renewing"]:
            print(
                f"{'':20}still renewing in the store, to cancel there: {left['product_id']}"
                f" ({left['manage_url']})",
                file=self.out,
            )

    def lookup(self, query: str) -> None:
        found = self.http.get(
            f"{self.engine}/v1/lookup",
            params={"q": query},
            headers=self._auth(self.keys.support),
            timeout=30,
        ).json()["subscriptions"]
        for item in found:
            renewals = sum(1 for e in item["events"] if e["kind"] == "renewed")
            self.say(
                f"{'Support':6} finds {query} by its transaction id: account deleted ="
                f" {str(item['account_deleted']).lower()}, status {item['status']},"
                f" {renewals} renewals tracked, expires {_short(item['expires_at'])}"
            )

    # -- output ---------------------------------------------------------------------------

    def say(self, text: str) -> None:
        print(f"{_short(iso(self.emulator.now()))}  {text}", file=self.out)

    def show(self, customer: str) -> None:
        at = iso(self.emulator.now())
        answer = self.http.get(
            f"{self.engine}/v1/users/{customer}/entitlements",
            params={"at": at},
            headers=self._auth(self.keys.support),
            timeout=30,
        )
        answer.raise_for_status()
        grants = answer.json()["entitlements"]
        if not grants:
            line = "no entitlement"
        else:
            parts = []
            for grant in grants:
                if grant["active"]:
                    renew = "renews" if grant["auto_renew"] else "does not renew"
                    parts.append(
                        f"{grant['entitlement']} ACTIVE until {_short(grant['expires_at'])}"
                        f" ({grant['status']}, {renew})"
                    )
                else:
                    parts.append(f"{grant['entitlement']} inactive ({grant['status']})")
            line = "; ".join(parts)
        print(f"{'':20}{customer}: {line}", file=self.out)

    @staticmethod
    def _auth(key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}


def _short(value: str | None) -> str:
    return (value or "-").replace("T", " ")[:16]


def _explain(out: TextIO, folder: Path, config: Path, engine: str, store: str, keys: Keys) -> None:
    print(
        f"""
Explore (store time is in the past: ask with ?at=... for instants of the journey):
  curl -H 'Authorization: Bearer {keys.support}' '{engine}/v1/lookup?q=alice'
  curl -H 'Authorization: Bearer {keys.service}' '{engine}/v1/users/bob/entitlements'
  iap-engine status carol --config {config}
  curl -X POST '{store}/control/clock/advance' \\
       -H 'Content-Type: application/json' -d '{{"by": "P1D"}}'
API keys: service {keys.service}  support {keys.support}  admin {keys.admin}
Files: {folder}""",
        file=out,
    )


def _wait_for_interrupt(out: TextIO) -> None:
    print("\nServing until Ctrl-C.", file=out, flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
