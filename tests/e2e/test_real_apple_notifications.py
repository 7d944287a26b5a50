"""The 14 real App Store notifications of one Sandbox subscription, over real HTTP.

Replayed in delivery order, shuffled, and each twice, into a real `iap-engine serve` process
on SQLite and on PostgreSQL: every run must end with the same periods, revocations and
timeline; the refunded transaction must never grant access at any instant inside it; and
instants inside the other periods must be answered right.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from tests.support.fakes import api_key_digest
from tests.support.processes import EngineProcess
from tests.support.realdata import jws_sample, realdata

SAMPLES = ("apple", "real-signed", "session-pro-backend")
ORIGINAL = "2000001024993299"
REFUNDED = "2000001032604840"
USER = "session-user"
KEYS = {"service": "svc-e2e-key", "support": "support-e2e-key", "admin": "admin-e2e-key"}


def notification_names() -> list[str]:
    folder = realdata(*SAMPLES)
    return sorted(p.name.removesuffix(".jws") for p in folder.glob("*.signedPayload.jws"))


def ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, UTC)


def write_config(tmp_path: Path, database_url: str) -> Path:
    root = realdata("apple", "roots", "AppleRootCA-G3.cer")
    keys = "\n".join(
        f'[[auth.api_keys]]\nname = "{role}"\nrole = "{role}"\nsha256 = "{api_key_digest(key)}"\n'
        for role, key in KEYS.items()
    )
    config = tmp_path / f"engine-{abs(hash(database_url))}.toml"
    config.write_text(
        f"""
[database]
url = "{database_url}"

{keys}

[products."com.getsession.org.pro_sub"]
entitlements = ["pro"]
type = "auto_renewable"

[products."com.getsession.org.pro_sub_3_months"]
entitlements = ["pro"]
type = "auto_renewable"

[apple]
bundle_id = "com.loki-project.loki-messenger"
app_apple_id = 1470168868
environments = ["Sandbox"]
root_certificates = ["{root}"]
""",
        encoding="utf-8",
    )
    return config


def deliver_all(engine: EngineProcess, names: list[str]) -> list[str]:
    results = []
    with requests.Session() as http:
        for name in names:
            body = json.dumps({"signedPayload": jws_sample(*SAMPLES, f"{name}.jws")})
            response = http.post(f"{engine.url}/v1/notifications/apple", data=body, timeout=30)
            assert response.status_code == 200, response.text
            results.append(response.json()["result"])
    return results


def support(engine: EngineProcess, path: str) -> dict:
    response = requests.get(
        f"{engine.url}{path}", headers={"Authorization": f"Bearer {KEYS['support']}"}, timeout=30
    )
    assert response.status_code == 200, response.text
    return response.json()


def the_subscription(engine: EngineProcess) -> dict:
    found = support(engine, f"/v1/lookup?q={ORIGINAL}")["subscriptions"]
    assert len(found) == 1
    return found[0]


def comparable(subscription: dict) -> tuple:
    """What must not depend on delivery order (outcomes and arrival times may)."""
    timeline = sorted(
        (e["store_time"], e["kind"], e["store_type"], e["store_subtype"], e["source"])
        for e in subscription["events"]
    )
    fields = {
        k: subscription[k]
        for k in ("store", "environment", "product_id", "status", "auto_renew", "expires_at")
    }
    return (fields, subscription["periods"], timeline)


def run(tmp_path: Path, database_url: str, names: list[str]) -> tuple[EngineProcess, dict]:
    engine = EngineProcess(write_config(tmp_path, database_url)).start()
    try:
        deliver_all(engine, names)
        return engine, the_subscription(engine)
    except BaseException:
        engine.stop()
        raise


@pytest.mark.slow
def test_any_delivery_order_ends_in_the_same_subscription(
    tmp_path: Path, fresh_database: Callable[[], str]
) -> None:
    names = notification_names()
    assert len(names) == 14
    shuffled = random.Random(20251016).sample(names, len(names))
    twice = random.Random(7).sample(names * 2, len(names) * 2)

    outcomes = {}
    engines = []
    try:
        for label, order in (("in order", names), ("shuffled", shuffled), ("twice", twice)):
            engine, subscription = run(tmp_path, fresh_database(), order)
            engines.append(engine)
            outcomes[label] = subscription
        # The duplicates were recognised as such: one timeline entry per notification.
        assert len(outcomes["twice"]["events"]) == 14
        reference = comparable(outcomes["in order"])
        assert comparable(outcomes["shuffled"]) == reference
        assert comparable(outcomes["twice"]) == reference

        subscription = outcomes["in order"]
        periods = {p["transaction_id"]: p for p in subscription["periods"]}
        assert set(periods) == {
            "2000001024998954",
            "2000001025686313",
            "2000001027701898",
            "2000001027701928",
            "2000001035288486",
            REFUNDED,
        }
        assert [t for t, p in periods.items() if p["revoked_at"]] == [REFUNDED]
        assert periods[REFUNDED]["revoked_at"] == "2025-10-16T05:19:59Z"
        # The upgrade from the 3-month plan cut the 3-month period at the change.
        assert periods["2000001027701898"]["replaced_at"] == "2025-10-06T05:16:30Z"
        # The newest state came from the resubscription (the refund concerned an old period).
        assert subscription["status"] == "active"
        assert subscription["product_id"] == "com.getsession.org.pro_sub_3_months"
        assert subscription["expires_at"] == "2025-10-16T05:25:14Z"
        assert {p["price_micros"] for p in subscription["periods"]} == {1_990_000, 5_990_000}

        check_entitlements(engines[0])
    finally:
        for engine in engines:
            engine.stop()


def check_entitlements(engine: EngineProcess) -> None:
    # Link the subscription to an app user by handing over one of its signed transactions.
    signed = jws_sample(*SAMPLES, "12-SUBSCRIBED-RESUBSCRIBE.signedTransactionInfo.jws")
    linked = requests.post(
        f"{engine.url}/v1/purchases/apple",
        json={"app_user_id": USER, "signed_transaction": signed},
        headers={"Authorization": f"Bearer {KEYS['service']}"},
        timeout=30,
    )
    assert linked.status_code == 200, linked.text
    assert linked.json()["store_ids"] == {"original_transaction_id": ORIGINAL}

    def active_at(instant: datetime) -> bool:
        at = instant.isoformat().replace("+00:00", "Z")
        grants = support(engine, f"/v1/users/{USER}/entitlements?at={at}")["entitlements"]
        assert [g["entitlement"] for g in grants] in ([], ["pro"])
        return bool(grants) and grants[0]["active"]

    # Never inside the refunded transaction (2025-10-13 05:58:49 .. 06:01:49).
    refunded_start, refunded_end = ms(1760335129000), ms(1760335309000)
    step = (refunded_end - refunded_start) / 6
    for i in range(6):
        assert not active_at(refunded_start + step * i), i
    assert not active_at(refunded_end - timedelta(milliseconds=1))
    # Inside the other periods: yes.
    for start, end, access_ends in (
        (1759302552000, 1759302732000, True),  # renewal, 1 Oct
        (1759388767000, 1759388947000, True),  # resubscribed, cancelled, lapsed, 2 Oct
        (1759727778000, 1759727790000, False),  # 3-month plan, until the upgrade
        (1759727790000, 1759727970000, True),  # after the upgrade
        (1760591774000, 1760592314000, True),  # resubscribed, 16 Oct
    ):
        middle = ms(start) + (ms(end) - ms(start)) / 2
        assert active_at(middle), middle
        assert active_at(ms(start))
        assert active_at(ms(end)) is not access_ends, ms(end)
    # Between terms, and after the upgrade's end although the 3-month plan had run longer.
    assert not active_at(ms(1759388947000) + timedelta(days=1))
    assert not active_at(ms(1759727970000) + timedelta(seconds=60))
    assert not active_at(ms(1760592314000) + timedelta(days=30))
