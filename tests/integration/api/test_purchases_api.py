"""Purchases through the API: verified by the (fake) store, linked under the restore policy."""

from __future__ import annotations

from fastapi.testclient import TestClient

from iap_engine.domain import EventKind, Status, Store
from iap_engine.service.purchases import Verified
from tests.integration.api.conftest import headers
from tests.support.builders import at, event, period, state
from tests.support.fakes import FakeApple, FakeGoogle, record


def monthly(key: str = "2000001") -> Verified:
    return Verified(
        (
            record(
                Store.APP_STORE,
                key,
                event(
                    EventKind.PURCHASED,
                    at(0),
                    state(Status.ACTIVE, at(30)),
                    periods=(period(f"{key}-1", at(0), at(30)),),
                ),
            ),
        )
    )


def buy(client: TestClient, user: str, transaction: str = "2000001-1"):
    return client.post(
        "/v1/purchases/apple",
        json={"app_user_id": user, "transaction_id": transaction},
        headers=headers("service"),
    )


def test_a_purchase_answers_the_subscription_object(
    client: TestClient, fake_apple: FakeApple, clock
) -> None:
    fake_apple.purchases["2000001-1"] = monthly()
    clock.set(at(1))
    response = buy(client, "u-1")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["store"] == "app_store"
    assert body["status"] == "active"
    assert body["entitled"] is True
    assert body["app_user_id"] == "u-1"
    assert body["account_deleted"] is False
    assert body["expires_at"] == "2026-01-31T00:00:00Z"
    assert body["store_ids"] == {"original_transaction_id": "2000001"}
    assert body["periods"][0]["transaction_id"] == "2000001-1"
    assert body["periods"][0]["revoked_at"] is None
    assert [e["kind"] for e in body["events"]] == ["purchased", "linked"]
    assert body["events"][0]["source"] == "purchase"
    entitlements = client.get("/v1/users/u-1/entitlements", headers=headers("service")).json()
    assert entitlements["entitlements"][0]["entitlement"] == "premium"
    assert entitlements["entitlements"][0]["active"] is True


def test_transfer_moves_a_restored_purchase(client: TestClient, fake_apple: FakeApple) -> None:
    fake_apple.purchases["2000001-1"] = monthly()
    buy(client, "u-1")
    moved = buy(client, "u-2").json()
    assert moved["app_user_id"] == "u-2"
    assert moved["events"][-1]["kind"] == "transferred"
    assert "u-1" not in str(moved["events"])
    assert (
        client.get("/v1/users/u-1/entitlements", headers=headers("service")).json()["entitlements"]
        == []
    )


def test_keep_original_refuses_with_409(make_client, fake_apple: FakeApple) -> None:
    client = make_client(restore_policy="keep_original")
    fake_apple.purchases["2000001-1"] = monthly()
    buy(client, "u-1")
    refused = buy(client, "u-2")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "conflict"
    assert "2000001" in refused.json()["error"]["message"]
    assert "u-1" not in refused.json()["error"]["message"]
    again = buy(client, "u-1")
    assert again.status_code == 200


def test_a_purchase_of_a_deleted_account_goes_to_the_new_account(
    make_client, fake_apple: FakeApple
) -> None:
    client = make_client(restore_policy="keep_original")
    fake_apple.purchases["2000001-1"] = monthly()
    buy(client, "u-1")
    deleted = client.delete("/v1/users/u-1", headers=headers("admin"))
    assert deleted.status_code == 200
    assert deleted.json()["still_renewing"][0]["manage_url"].startswith("https://apps.apple.com")
    restored = buy(client, "u-2").json()
    assert restored["app_user_id"] == "u-2"
    assert restored["account_deleted"] is False


def test_store_rejections_are_answered_with_their_reason(
    client: TestClient, fake_google: FakeGoogle
) -> None:
    unknown = buy(client, "u-1", transaction="999")
    assert unknown.status_code == 422
    assert unknown.json()["error"]["code"] == "transaction_not_found"
    forged = client.post(
        "/v1/purchases/apple",
        json={"app_user_id": "u-1", "signed_transaction": "eyJ.forged.sig"},
        headers=headers("service"),
    )
    assert forged.status_code == 401
    assert forged.json()["error"]["code"] == "invalid_signature"
    gone = client.post(
        "/v1/purchases/google",
        json={"app_user_id": "u-1", "product_id": "monthly", "purchase_token": "tok"},
        headers=headers("service"),
    )
    assert gone.status_code == 422
    assert gone.json()["error"]["code"] == "purchase_gone"
