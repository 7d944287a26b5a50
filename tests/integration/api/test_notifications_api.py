"""Webhook ingestion through the API, with a fake reader: stored first, then merged."""

from __future__ import annotations

import json
from dataclasses import replace

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from iap_engine.domain import EventKind, Source, Status, Store, StoreRecord
from iap_engine.persistence.tables import inbox, subscriptions
from iap_engine.persistence.unit_of_work import SqlUnitOfWorkFactory
from iap_engine.service.deliveries import ReadDelivery
from iap_engine.service.recording import record_input
from tests.integration.api.conftest import headers
from tests.support.builders import CATALOG, at, event, period, state
from tests.support.fakes import FakeApple, FakeGoogle, record


def renewal(hint: str | None = None) -> ReadDelivery:
    return ReadDelivery(
        (
            record(
                Store.APP_STORE,
                "2000009",
                event(
                    EventKind.RENEWED,
                    at(30),
                    state(Status.ACTIVE, at(60)),
                    periods=(period("2000009-2", at(30), at(60)),),
                ),
                hint=hint,
            ),
        ),
        store_type="DID_RENEW",
    )


def inbox_rows(engine: Engine) -> list[tuple[str, str]]:
    with engine.connect() as connection:
        return [
            (row.delivery_id, row.status)
            for row in connection.execute(select(inbox).order_by(inbox.c.id))
        ]


def subscription_count(engine: Engine) -> int:
    with engine.connect() as connection:
        return len(connection.execute(select(subscriptions.c.id)).all())


def test_a_delivery_is_stored_merged_and_deduplicated(
    client: TestClient, fake_apple: FakeApple, engine: Engine
) -> None:
    fake_apple.notifications.outcomes["renew"] = lambda: renewal(hint="u-7")
    body = json.dumps({"id": "uuid-1", "ref": "renew"})
    first = client.post("/v1/notifications/apple", content=body)
    assert first.status_code == 200
    assert first.json()["result"] == "processed"
    second = client.post("/v1/notifications/apple", content=body)
    assert second.status_code == 200
    assert second.json()["result"] == "duplicate"
    assert inbox_rows(engine) == [("uuid-1", "processed")]
    assert fake_apple.notifications.reads == 1
    # Linked at once through the account hint, created unlinked otherwise.
    found = client.get("/v1/lookup?q=2000009-2", headers=headers("support")).json()
    assert found["subscriptions"][0]["app_user_id"] == "u-7"
    assert sorted(e["kind"] for e in found["subscriptions"][0]["events"]) == ["linked", "renewed"]
    assert (
        'iap_deliveries_total{store="app_store",outcome="processed"} 1'
        in client.get("/metrics").text
    )


def test_a_forgery_is_401_recorded_as_rejected_and_touches_nothing(
    client: TestClient, fake_apple: FakeApple, engine: Engine
) -> None:
    fake_apple.notifications.outcomes["renew"] = renewal
    forged = client.post(
        "/v1/notifications/apple", content=json.dumps({"id": "uuid-2", "ref": "forged"})
    )
    assert forged.status_code == 401
    assert forged.json()["error"]["code"] == "invalid_signature"
    malformed = client.post("/v1/notifications/apple", content=b"garbage")
    assert malformed.status_code == 400
    assert subscription_count(engine) == 0
    rows = inbox_rows(engine)
    assert rows[0] == ("uuid-2", "rejected")
    assert rows[1][1] == "rejected" and rows[1][0].startswith("sha256:")
    # The genuine delivery under the id a forgery claimed first is still processed.
    genuine = client.post(
        "/v1/notifications/apple", content=json.dumps({"id": "uuid-2", "ref": "renew"})
    )
    assert genuine.status_code == 200
    assert genuine.json()["result"] == "processed"
    assert subscription_count(engine) == 1


def test_a_store_outage_keeps_the_delivery_for_later(
    client: TestClient, fake_google: FakeGoogle, engine: Engine
) -> None:
    body = json.dumps({"id": "msg-1", "ref": "down"})
    auth = {"Authorization": "Bearer valid-oidc"}
    response = client.post("/v1/notifications/google", content=body, headers=auth)
    assert response.status_code == 200
    assert response.json()["result"] == "deferred"
    with engine.connect() as connection:
        row = connection.execute(select(inbox)).one()
    assert (row.status, row.attempts) == ("failed", 1)
    assert row.next_attempt_at is not None
    assert "store unavailable" in row.last_error


def test_an_unauthenticated_push_is_401_and_stores_nothing(
    client: TestClient, engine: Engine
) -> None:
    body = json.dumps({"id": "msg-2", "ref": "down"})
    for auth in ({}, {"Authorization": "Bearer wrong"}):
        response = client.post("/v1/notifications/google", content=body, headers=auth)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_token"
    assert inbox_rows(engine) == []


def test_purchase_token_is_the_chains_newest_whatever_order_its_tokens_arrived_in(
    client: TestClient, uow_factory: SqlUnitOfWorkFactory
) -> None:
    def google(token: str, linked: str | None, day: float) -> StoreRecord:
        seen = event(
            EventKind.REFRESHED,
            at(day),
            state(Status.ACTIVE, at(day + 30)),
            periods=(period(f"GPA.{token}", at(day), at(day + 30)),),
        )
        return replace(record(Store.PLAY_STORE, token, seen), linked_key=linked)

    with uow_factory() as uow:
        # First the upgrade's token (which replaced "tok-a"), then a late word about "tok-a".
        for item in (google("tok-b", "tok-a", 30), google("tok-a", None, 0)):
            subscription = record_input(
                uow, CATALOG, item, now=at(31), source=Source.WEBHOOK
            ).subscription
        uow.commit()
    detail = client.get(f"/v1/subscriptions/{subscription.id}", headers=headers("support"))
    store_ids = detail.json()["store_ids"]
    assert store_ids["purchase_token"] == "tok-b"
    assert sorted(store_ids["purchase_tokens"]) == ["tok-a", "tok-b"]
