"""Delivery guarantees against a real `iap-engine serve` process.

- 50 concurrent deliveries of one notification: all answered 200, processed once.
- A crash between storing a delivery and committing its state loses nothing:
  `iap-engine replay` completes it.
- Deleting an account: its data is gone, the subscription is still found by a transaction id,
  reports `account_deleted: true`, and later store deliveries still update it;
  `iap-engine status` shows it all.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from iap_engine.persistence.database import create_database_engine
from iap_engine.persistence.tables import events, inbox, subscriptions
from store_emulator.google.faults import Fault
from tests.e2e.scenarios import PREMIUM, World, world
from tests.e2e.test_real_apple_notifications import (
    KEYS,
    ORIGINAL,
    SAMPLES,
    write_config,
)
from tests.support.processes import EngineProcess, cli
from tests.support.realdata import jws_sample

pytestmark = pytest.mark.slow


def body_of(name: str) -> str:
    return json.dumps({"signedPayload": jws_sample(*SAMPLES, f"{name}.signedPayload.jws")})


def rows(database_url: str, table) -> list:
    engine = create_database_engine(database_url)
    try:
        with engine.connect() as connection:
            return list(connection.execute(select(table)))
    finally:
        engine.dispose()


def test_fifty_concurrent_deliveries_are_processed_once(
    tmp_path: Path, fresh_database: Callable[[], str]
) -> None:
    database_url = fresh_database()
    engine = EngineProcess(write_config(tmp_path, database_url)).start()
    try:
        body = body_of("01-DID_RENEW")

        def deliver(_: int) -> tuple[int, str]:
            response = requests.post(f"{engine.url}/v1/notifications/apple", data=body, timeout=60)
            return response.status_code, response.json().get("result", "")

        with ThreadPoolExecutor(max_workers=50) as pool:
            answers = list(pool.map(deliver, range(50)))
    finally:
        engine.stop()
    assert [status for status, _ in answers] == [200] * 50
    results = sorted(result for _, result in answers)
    assert results.count("processed") == 1
    assert set(results) <= {"processed", "duplicate"}
    assert [(r.status) for r in rows(database_url, inbox)] == ["processed"]
    assert len(rows(database_url, events)) == 1
    assert len(rows(database_url, subscriptions)) == 1


def test_a_deleted_account_stays_tracked_and_findable(
    tmp_path: Path, fresh_database: Callable[[], str]
) -> None:
    database_url = fresh_database()
    config = write_config(tmp_path, database_url)
    engine = EngineProcess(config).start()
    admin = {"Authorization": f"Bearer {KEYS['admin']}"}
    service = {"Authorization": f"Bearer {KEYS['service']}"}
    support = {"Authorization": f"Bearer {KEYS['support']}"}
    try:
        with requests.Session() as http:
            for name in ("05-SUBSCRIBED-RESUBSCRIBE", "06-DID_CHANGE_RENEWAL_PREF-UPGRADE"):
                assert http.post(f"{engine.url}/v1/notifications/apple", data=body_of(name)).ok
            signed = jws_sample(*SAMPLES, "05-SUBSCRIBED-RESUBSCRIBE.signedTransactionInfo.jws")
            linked = http.post(
                f"{engine.url}/v1/purchases/apple",
                json={"app_user_id": "leaving-user", "signed_transaction": signed},
                headers=service,
            )
            assert linked.status_code == 200, linked.text

            deleted = http.delete(f"{engine.url}/v1/users/leaving-user", headers=admin)
            assert deleted.status_code == 200, deleted.text
            still = deleted.json()["still_renewing"]
            assert deleted.json()["deleted"] is True
            assert [s["manage_url"] for s in still] == [
                "https://apps.apple.com/account/subscriptions"
            ]

            # The customer's data is gone ...
            gone = http.get(f"{engine.url}/v1/lookup?q=leaving-user", headers=support).json()
            assert gone["subscriptions"] == []
            # ... the subscription is found by a transaction id, flagged ...
            found = http.get(f"{engine.url}/v1/lookup?q=2000001027701928", headers=support)
            subscription = found.json()["subscriptions"][0]
            assert subscription["account_deleted"] is True
            assert subscription["app_user_id"] is None
            assert subscription["store_ids"] == {"original_transaction_id": ORIGINAL}
            # ... and later store deliveries still update it.
            for name in (
                "07-DID_CHANGE_RENEWAL_STATUS-AUTO_RENEW_DISABLED",
                "11-EXPIRED-VOLUNTARY",
            ):
                assert http.post(f"{engine.url}/v1/notifications/apple", data=body_of(name)).ok
            after = http.get(
                f"{engine.url}/v1/subscriptions/{subscription['subscription_id']}", headers=support
            ).json()
            assert after["status"] == "expired"
            assert after["auto_renew"] is False
            assert after["account_deleted"] is True
            assert "account_deleted" in [e["kind"] for e in after["events"]]
    finally:
        engine.stop()
    readable = cli(config, "status", "2000001027701928", "--at", "2025-10-06T05:17:00Z")
    assert readable.returncode == 0, readable.stderr
    assert "(account deleted)" in readable.stdout
    assert "status expired" in readable.stdout
    assert "entitled at 2025-10-06T05:17:00Z: yes" in readable.stdout
    assert "EXPIRED/VOLUNTARY" in readable.stdout
    assert "leaving-user" not in readable.stdout
    missing = cli(config, "status", "no-such-thing")
    assert missing.returncode == 1
    assert "nothing found" in missing.stdout


def test_a_crash_between_storing_and_committing_loses_nothing(
    tmp_path: Path, fresh_database: Callable[[], str]
) -> None:
    """A Google notification makes the engine ask Play for the truth; the engine is killed
    while it waits, with the raw delivery committed and nothing merged. Replay completes it."""
    database_url = fresh_database()
    with world(tmp_path, database_url) as w:
        google = w.emulator.google
        assert google is not None
        token = google.purchase(PREMIUM, "monthly", account_id="crash-user")
        google.play.faults.add(Fault(delay=60, path_contains="subscriptionsv2"))
        pushed = threading.Thread(target=_deliver_quietly, args=(w,), daemon=True)
        pushed.start()
        deadline = time.monotonic() + 30
        while not any("subscriptionsv2" in call for call in google.play.api_calls):
            assert time.monotonic() < deadline, "the engine never asked Google Play"
            time.sleep(0.05)
        w.engine.kill()
        pushed.join(timeout=90)
        google.play.faults.clear()

        stored = rows(database_url, inbox)
        assert [(r.store, r.status) for r in stored] == [("play_store", "received")]
        assert rows(database_url, subscriptions) == []

        replayed = cli(w.engine.config, "replay")
        assert replayed.returncode == 0, replayed.stdout + replayed.stderr
        assert "replayed 1 deliveries: 1 processed" in replayed.stdout
        assert [r.status for r in rows(database_url, inbox)] == ["processed"]
        # A purchase token may start with "-": `--` ends the options.
        found = cli(w.engine.config, "status", "--json", "--", token)
        assert found.returncode == 0, found.stderr
        (subscription,) = json.loads(found.stdout)["subscriptions"]
        assert subscription["app_user_id"] == "crash-user"
        assert subscription["status"] == "active"


def _deliver_quietly(w: World) -> None:
    with w.emulator.lock:
        w.emulator.deliver_pending()  # its POST dies with the engine
