"""Every endpoint's role rules, the body cap and the error shape."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.integration.api.conftest import KEYS, headers

ENDPOINTS = [
    # method, path, json, roles allowed (admin is always allowed)
    ("POST", "/v1/purchases/apple", {"app_user_id": "u-1", "transaction_id": "1"}, {"service"}),
    (
        "POST",
        "/v1/purchases/google",
        {"app_user_id": "u-1", "product_id": "monthly", "purchase_token": "t"},
        {"service"},
    ),
    ("GET", "/v1/users/u-1/entitlements", None, {"service", "support"}),
    ("DELETE", "/v1/users/u-1", None, set()),
    ("GET", "/v1/subscriptions/nope", None, {"support"}),
    ("GET", "/v1/lookup?q=u-1", None, {"support"}),
]


def call(client: TestClient, method: str, path: str, body, extra: dict[str, str] | None = None):
    return client.request(method, path, json=body, headers=extra or {})


def assert_error(response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    payload = response.json()
    assert set(payload) == {"error"}
    assert payload["error"]["code"] == code
    assert isinstance(payload["error"]["message"], str) and payload["error"]["message"]


@pytest.mark.parametrize(("method", "path", "body", "roles"), ENDPOINTS)
def test_without_a_key_the_answer_is_401(client: TestClient, method, path, body, roles) -> None:
    assert_error(call(client, method, path, body), 401, "missing_credentials")
    assert_error(
        call(client, method, path, body, {"Authorization": "Bearer not-a-key"}),
        401,
        "invalid_credentials",
    )
    assert_error(
        call(client, method, path, body, {"Authorization": f"Basic {KEYS['admin']}"}),
        401,
        "missing_credentials",
    )


@pytest.mark.parametrize(("method", "path", "body", "roles"), ENDPOINTS)
def test_each_role_gets_only_what_it_needs(client: TestClient, method, path, body, roles) -> None:
    for role in ("service", "support", "admin"):
        response = call(client, method, path, body, headers(role))
        if role in roles or role == "admin":
            assert response.status_code not in (401, 403), (role, response.text)
        else:
            assert_error(response, 403, "forbidden")


def test_open_endpoints_need_no_key(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "database": "ok"}
    client.get("/v1/users/u-42/entitlements")  # 401, and counted by route, not by user
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    assert "# TYPE iap_deliveries_total counter" in metrics.text
    assert 'iap_http_requests_total{route="/healthz",status="200"} 1' in metrics.text
    assert (
        'iap_http_requests_total{route="/v1/users/{app_user_id}/entitlements",status="401"} 1'
        in metrics.text
    )
    assert "u-42" not in metrics.text
    assert client.get("/openapi.json").json()["info"]["title"] == "iap-engine"


def test_bodies_over_the_cap_get_413(client: TestClient) -> None:
    big = "x" * 5000
    response = client.post(
        "/v1/purchases/apple",
        content=f'{{"app_user_id": "u", "receipt": "{big}"}}',
        headers={**headers("service"), "content-type": "application/json"},
    )
    assert_error(response, 413, "payload_too_large")

    def chunks():  # no Content-Length: the cap applies while reading
        for _ in range(10):
            yield b"x" * 1000

    streamed = client.post("/v1/notifications/apple", content=chunks())
    assert_error(streamed, 413, "payload_too_large")


def test_validation_errors_name_the_field(client: TestClient) -> None:
    missing = client.post(
        "/v1/purchases/apple", json={"transaction_id": "1"}, headers=headers("service")
    )
    assert_error(missing, 422, "invalid_request")
    assert "app_user_id" in missing.json()["error"]["message"]
    two = client.post(
        "/v1/purchases/apple",
        json={"app_user_id": "u", "transaction_id": "1", "receipt": "r"},
        headers=headers("service"),
    )
    assert_error(two, 422, "invalid_request")
    assert "exactly one of" in two.json()["error"]["message"]
    unknown = client.post(
        "/v1/purchases/google",
        json={"app_user_id": "u", "product_id": "p", "purchase_token": "t", "extra": 1},
        headers=headers("service"),
    )
    assert_error(unknown, 422, "invalid_request")
    assert "extra" in unknown.json()["error"]["message"]


def test_malformed_json_is_400(client: TestClient) -> None:
    response = client.post(
        "/v1/purchases/apple",
        content=b"{not json",
        headers={**headers("service"), "content-type": "application/json"},
    )
    assert_error(response, 400, "malformed_json")


def test_unknown_routes_and_methods_keep_the_shape(client: TestClient) -> None:
    assert_error(client.get("/v1/nothing-here"), 404, "not_found")
    assert_error(client.put("/healthz"), 405, "method_not_allowed")
    assert_error(client.get("/v1/subscriptions/nope", headers=headers("support")), 404, "not_found")


def test_a_bad_instant_names_the_parameter(client: TestClient) -> None:
    response = client.get("/v1/users/u-1/entitlements?at=yesterday", headers=headers("service"))
    assert_error(response, 422, "invalid_request")
    assert response.json()["error"]["message"].startswith("at:")
