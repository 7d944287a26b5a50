"""Deliveries over real HTTP to a local receiver: the stores' retries, and the policy."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import requests

from store_adapters.apple.client import AppStoreServerClient
from store_emulator.emulator import StoreEmulator
from store_emulator.serving import free_port, serving
from tests.integration.emulator.conftest import Receiver

MONTHLY = "com.example.premium.monthly"


def history(emulator: StoreEmulator, environment: str = "Production") -> list[dict]:
    """Get Notification History over HTTP, with the engine's own client."""
    assert emulator.apple is not None
    with serving(emulator.app()) as server, requests.Session() as session:
        client = AppStoreServerClient(
            session=session,
            environment=environment,  # type: ignore[arg-type]
            base_url=server.url,
            **emulator.apple.emulator.client_credentials(),
        )
        start = emulator.clock.now() - timedelta(days=400)
        answer = client.get_notification_history(start, emulator.clock.now() + timedelta(days=1))
    return list(answer["notificationHistory"])


def test_apple_retries_a_failed_delivery_at_one_twelve_and_twenty_four_hours(
    production: StoreEmulator, receiver: Receiver
):
    receiver.statuses[:] = [500, 404, 503]
    assert production.apple is not None
    production.apple.subscribe(MONTHLY, customer="c-1")
    t0 = production.now()

    first = production.deliver_pending()
    report = production.advance(timedelta(days=2))

    attempts = first + report.attempts
    assert [a.status for a in attempts] == [500, 404, 503, 200]
    assert [a.at - t0 for a in attempts] == [
        timedelta(0),
        timedelta(hours=1),
        timedelta(hours=13),
        timedelta(hours=37),
    ]
    assert len(set(receiver.bodies("apple"))) == 1  # the same notification each time
    (entry,) = history(production)
    assert [a["sendAttemptResult"] for a in entry["sendAttempts"]] == [
        "UNSUCCESSFUL_HTTP_RESPONSE_CODE",
        "UNSUCCESSFUL_HTTP_RESPONSE_CODE",
        "UNSUCCESSFUL_HTTP_RESPONSE_CODE",
        "SUCCESS",
    ]


def test_apple_gives_up_after_five_retries(production: StoreEmulator, receiver: Receiver):
    receiver.statuses[:] = [500] * 10
    assert production.apple is not None
    production.apple.subscribe(MONTHLY, customer="c-1")

    production.deliver_pending()
    production.advance(timedelta(days=7))

    assert len(receiver.bodies("apple")) == 6
    (delivery,) = production.deliveries("apple")
    assert delivery.state == "failed"


def test_apple_sends_sandbox_notifications_once(emulator: StoreEmulator, receiver: Receiver):
    receiver.statuses[:] = [500]
    assert emulator.apple is not None
    emulator.apple.subscribe(MONTHLY, customer="c-1")

    emulator.deliver_pending()
    emulator.advance(timedelta(days=7))

    assert len(receiver.bodies("apple")) == 1
    assert emulator.deliveries("apple")[0].state == "failed"


def test_pubsub_push_backs_off_exponentially(emulator: StoreEmulator, receiver: Receiver):
    receiver.statuses[:] = [500, 503, 429, 500]
    assert emulator.google is not None
    emulator.google.purchase(MONTHLY, "monthly")
    t0 = emulator.now()

    attempts = emulator.deliver_pending() + emulator.advance(timedelta(minutes=5)).attempts

    assert [(a.at - t0).total_seconds() for a in attempts] == [0, 10, 30, 70, 150]
    assert [a.status for a in attempts] == [500, 503, 429, 500, 200]
    assert all(r.authorization and r.authorization.startswith("Bearer ") for r in receiver.requests)
    message_ids = {json.loads(b)["message"]["messageId"] for b in receiver.bodies("google")}
    assert len(message_ids) == 1


def test_an_unreachable_target_is_retried(emulator: StoreEmulator, receiver: Receiver):
    emulator.set_targets(google_url=f"http://127.0.0.1:{free_port()}/nobody")
    assert emulator.google is not None
    emulator.google.purchase(MONTHLY, "monthly")

    (attempt,) = emulator.deliver_pending()
    emulator.set_targets(google_url=receiver.url + "/hooks/google")
    retried = emulator.advance(timedelta(seconds=10)).attempts

    assert attempt.status is None and attempt.error is not None
    assert [(a.number, a.ok) for a in retried] == [(2, True)]


def test_a_dropped_notification_is_not_sent_but_stays_in_apple_history(
    production: StoreEmulator, receiver: Receiver
):
    production.add_rule("drop", store="apple", types=["DID_RENEW"], count=1)
    assert production.apple is not None
    production.apple.subscribe(MONTHLY, customer="c-1")

    production.advance("P2M")

    sent = [json.loads(b)["signedPayload"] for b in receiver.bodies("apple")]
    entries = history(production)
    assert len(sent) == 2  # SUBSCRIBED, then the second DID_RENEW
    assert len(entries) == 3
    dropped = [e for e in entries if e["signedPayload"] not in sent]
    assert len(dropped) == 1
    assert dropped[0]["sendAttempts"] == []


def test_duplicates_delays_and_reorders_reach_the_receiver(
    emulator: StoreEmulator, receiver: Receiver
):
    assert emulator.google is not None
    emulator.add_rule("duplicate", store="google", types=["SUBSCRIPTION_PURCHASED"], count=1)
    first = emulator.google.purchase(MONTHLY, "monthly")
    emulator.deliver_pending()
    assert len(receiver.bodies("google")) == 2
    assert receiver.bodies("google")[0] == receiver.bodies("google")[1]

    rule = emulator.add_rule("reorder", store="google", count=3)
    tokens = [first] + [emulator.google.purchase(MONTHLY, "monthly") for _ in range(2)]
    emulator.google.cancel(first)  # the third message of the batch
    emulator.deliver_pending()
    batch = [rtdn(b)["subscriptionNotification"] for b in receiver.bodies("google")[2:]]
    assert [n["notificationType"] for n in batch] == [3, 4, 4]
    assert [n["purchaseToken"] for n in batch] == [
        first,
        tokens[2],
        tokens[1],
    ]
    assert emulator.policy.get(rule.id) is not None

    emulator.add_rule("delay", store="google")
    emulator.google.cancel(tokens[1])
    emulator.deliver_pending()
    assert len(receiver.bodies("google")) == 5
    emulator.release(store="google")
    assert len(receiver.bodies("google")) == 6


def rtdn(body: bytes) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(base64.b64decode(json.loads(body)["message"]["data"]))
    return decoded
