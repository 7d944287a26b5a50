"""The control API over real HTTP: clock, customers of both stores, deliveries, state."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import requests

from store_emulator.emulator import StoreEmulator
from store_emulator.serving import serving
from tests.integration.emulator.conftest import Receiver

MONTHLY = "com.example.premium.monthly"


class Control:
    def __init__(self, base: str, session: requests.Session) -> None:
        self.base = base + "/control"
        self.session = session

    def post(self, path: str, body: dict | None = None, status: int = 200) -> dict:
        answer = self.session.post(self.base + path, json=body, timeout=10)
        assert answer.status_code == status, answer.text
        return answer.json()

    def get(self, path: str) -> dict:
        answer = self.session.get(self.base + path, timeout=10)
        assert answer.status_code == 200, answer.text
        return answer.json()


@pytest.fixture
def control(emulator: StoreEmulator) -> Iterator[Control]:
    with serving(emulator.app()) as server, requests.Session() as session:
        yield Control(server.url, session)


def test_a_journey_in_both_stores_driven_over_http(control: Control, receiver: Receiver):
    start = control.get("/clock")["now"]

    apple = control.post("/apple/subscriptions", {"product_id": MONTHLY, "customer": "c-1"})
    google = control.post("/google/subscriptions", {"product_id": MONTHLY, "account_id": "a-1"})
    key = apple["result"]["original_transaction_id"]
    token = google["result"]["purchase_token"]
    assert [e["notification_type"] for e in apple["emitted"]] == ["SUBSCRIBED"]
    assert [(a["store"], a["status"]) for a in google["attempts"]] == [("google", 200)]

    control.post(f"/apple/subscriptions/{key}/cancel")
    control.post(f"/google/subscriptions/{token}/payment", {"state": "failing"})
    moved = control.post("/clock/advance", {"by": "P1M"})

    assert [(e["store"], e["notification_type"]) for e in moved["emitted"]] == [
        ("apple", "EXPIRED"),
        ("google", "SUBSCRIPTION_IN_GRACE_PERIOD"),
    ]
    assert all(a["ok"] for a in moved["attempts"])
    assert moved["now"] > start
    state = control.get("/state")
    assert state["apple"]["subscriptions"][0]["status"] == "expired"
    assert state["google"]["subscriptions"][0]["state"] == "SUBSCRIPTION_STATE_IN_GRACE_PERIOD"
    assert state["delivery"]["deliveries"]["google"] == {"delivered": 2}
    assert len(receiver.requests) == 5


def test_advance_takes_seconds_or_an_instant(control: Control, emulator: StoreEmulator):
    before = emulator.now()

    control.post("/clock/advance", {"by": 3600})
    target = (before + timedelta(days=2)).isoformat().replace("+00:00", "Z")
    control.post("/clock/advance", {"to": target})

    assert emulator.now() == before + timedelta(days=2)
    assert control.post("/clock/advance", {"to": before.isoformat()}, status=400)["error"][
        "message"
    ] == ("time does not run backwards")
    control.post("/clock/advance", {"by": "P1D", "to": target}, status=400)


def test_refusals_say_why(control: Control):
    missing = control.post("/apple/subscriptions", {"product_id": "nope"}, status=404)
    assert missing["error"]["code"] == "not_found"
    google = control.post("/google/subscriptions", {"product_id": "com.example.basic.monthly"})
    token = google["result"]["purchase_token"]
    control.post(f"/google/subscriptions/{token}/payment", {"state": "failing"})

    declined = control.post(
        f"/google/subscriptions/{token}/change", {"product_id": MONTHLY}, status=402
    )
    conflict = control.post(f"/google/subscriptions/{token}/uncancel", status=409)

    assert declined["error"]["code"] == "payment_declined"
    assert conflict["error"]["code"] == "conflict"
    control.post("/google/subscriptions", {"product_id": MONTHLY, "extra": 1}, status=422)


def test_delivery_targets_policy_and_log(control: Control, emulator: StoreEmulator, receiver):
    targets = control.session.put(
        control.base + "/delivery/targets", json={"push_audience": "https://engine/push"}
    ).json()
    assert targets["push_audience"] == "https://engine/push"
    rule = control.post("/delivery/policy", {"action": "delay", "store": "apple"}, status=201)
    assert control.get("/delivery/policy") == [rule]

    control.post("/apple/purchases", {"product_id": "com.example.coins"})
    held = control.get("/deliveries")
    released = control.post("/delivery/release", {"store": "apple"})

    assert [d["state"] for d in held] == ["held"]
    assert [(a["notification_type"], a["status"]) for a in released["attempts"]] == [
        ("ONE_TIME_CHARGE", 200)
    ]
    assert control.session.delete(f"{control.base}/delivery/policy/{rule['id']}").ok
    assert control.get("/delivery/policy") == []
    bad = control.post(
        "/delivery/policy", {"action": "drop", "until": "2030-01-01T00:00:00Z"}, status=400
    )
    assert bad["error"]["message"] == "until applies to delay and reorder only"


def test_every_customer_action_is_routed(control: Control, emulator: StoreEmulator):
    apple = control.post("/apple/subscriptions", {"product_id": MONTHLY, "customer": "c-1"})
    key = apple["result"]["original_transaction_id"]
    tid = apple["result"]["transaction_id"]
    member = control.post(f"/apple/subscriptions/{key}/share", {"customer": "family-1"})
    member_key = member["result"]["original_transaction_id"]
    calls = [
        (f"/apple/subscriptions/{key}/price-increase", {"price": 12990}),
        (f"/apple/subscriptions/{key}/consent", None),
        (f"/apple/subscriptions/{key}/change", {"product_id": "com.example.basic.monthly"}),
        (f"/apple/subscriptions/{member_key}/family-revoke", None),
        (f"/apple/transactions/{tid}/refund", {"reason": 1}),
        (f"/apple/transactions/{tid}/reverse-refund", None),
    ]
    for path, body in calls:
        control.post(path, body)
    token = control.post("/google/subscriptions", {"product_id": MONTHLY})["result"][
        "purchase_token"
    ]
    for path, body in [
        ("pause", {"duration": "P1M"}),
        ("resume", None),
        ("defer", {"by": "P7D"}),
        ("price-increase", {"price_micros": 12_990_000, "opt_in": False}),
        ("refund", None),
        ("revoke", None),
    ]:
        control.post(f"/google/subscriptions/{token}/{path}", body)
    product = control.post("/google/purchases", {"product_id": "com.example.lifetime"})
    control.post(f"/google/purchases/{product['result']['purchase_token']}/refund")

    apple_types = [m.notification_type for m in emulator.messages if m.store == "apple"]
    google_types = [m.notification_type for m in emulator.messages if m.store == "google"]
    assert apple_types == [
        "SUBSCRIBED",
        "SUBSCRIBED",
        "PRICE_INCREASE",
        "PRICE_INCREASE",
        "DID_CHANGE_RENEWAL_PREF",
        "REVOKE",
        "REFUND",
        "REFUND_REVERSED",
    ]
    assert google_types == [
        "SUBSCRIPTION_PURCHASED",
        "SUBSCRIPTION_PAUSE_SCHEDULE_CHANGED",
        "SUBSCRIPTION_PAUSE_SCHEDULE_CHANGED",
        "SUBSCRIPTION_DEFERRED",
        "SUBSCRIPTION_PRICE_CHANGE_UPDATED",
        "VOIDED_PURCHASE",
        "SUBSCRIPTION_REVOKED",
        "VOIDED_PURCHASE",
        "ONE_TIME_PRODUCT_PURCHASED",
        "VOIDED_PURCHASE",
    ]


def test_the_openapi_documents_the_control_api_only(control: Control):
    document = control.session.get(control.base.removesuffix("/control") + "/openapi.json").json()

    paths = set(document["paths"])
    assert "/control/clock/advance" in paths
    assert "/control/apple/subscriptions" in paths
    assert not any(p.startswith(("/inApps", "/androidpublisher", "/sandbox")) for p in paths)
