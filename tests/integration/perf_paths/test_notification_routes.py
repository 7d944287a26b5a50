"""The webhook routes are plain Starlette routes now: still documented, same error shapes."""

from __future__ import annotations

from fastapi.testclient import TestClient

from iap_engine.bootstrap import build_app, wire
from iap_engine.settings import Settings


def test_the_webhooks_are_documented_and_answer_in_the_error_shape() -> None:
    wiring = wire(Settings(database={"url": "sqlite:///:memory:"}))
    try:
        client = TestClient(build_app(wiring))
        document = client.get("/openapi.json").json()
        wrong_method = client.get("/v1/notifications/apple")
        not_served = client.post("/v1/notifications/google", content=b"{}")
    finally:
        wiring.close()
    for path in ("/v1/notifications/apple", "/v1/notifications/google"):
        assert document["paths"][path]["post"]["tags"] == ["notifications"]
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"
    assert not_served.status_code == 404
    assert not_served.json()["error"]["code"] == "store_not_configured"
