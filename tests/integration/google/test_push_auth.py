"""Pub/Sub push authentication against the emulator's published keys, over HTTP.

A small receiving endpoint stands in for the engine's: it answers 401 on an authentication
failure before storing anything, and 400 on a malformed body, whose raw bytes it keeps.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import requests
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from store_adapters.google.errors import PlayUnavailable, PushMalformed, PushUnauthenticated
from store_adapters.google.oidc import JwksCache, PushAuthenticator
from store_adapters.google.push import PushReceiver
from store_emulator.google.keys import new_rsa_key
from store_emulator.google.play import CERTS_PATH
from store_emulator.serving import serving
from tests.integration.google.conftest import AUDIENCE, PACKAGE, PUSH_ACCOUNT


@pytest.fixture
def endpoint(receiver: PushReceiver) -> Iterator[tuple[str, list[bytes]]]:
    kept: list[bytes] = []
    app = FastAPI()

    @app.post("/v1/notifications/google")
    async def notify(request: Request) -> JSONResponse:
        try:
            receiver.authenticate(request.headers.get("authorization"))
        except PushUnauthenticated as error:
            return JSONResponse({"error": {"code": error.reason}}, status_code=401)
        body = await request.body()
        kept.append(body)  # stored before it is read, as the inbox does
        try:
            _envelope, notification = receiver.parse(body)
        except PushMalformed as error:
            return JSONResponse({"error": {"code": error.reason}}, status_code=400)
        return JSONResponse({"kind": notification.kind})

    with serving(app) as server:
        yield server.url + "/v1/notifications/google", kept


def _reason(response: requests.Response) -> str:
    return str(response.json()["error"]["code"])


def test_a_valid_push_is_accepted_over_http(play, publisher, session, endpoint):
    url, kept = endpoint
    token = play.store.purchase("premium", "monthly")

    response = publisher.deliver(
        session, url, publisher.request(publisher.subscription_notification(token, 4))
    )

    assert response.status_code == 200 and response.json() == {"kind": "subscription"}
    assert len(kept) == 1


def _forged_token(play, publisher, case: str) -> str | None:
    signer = play.signer
    if case == "missing_token":
        return None
    if case == "expired":
        return signer.mint(AUDIENCE, PUSH_ACCOUNT, issued_ago=timedelta(hours=2))
    if case == "wrong_audience":
        return signer.mint("https://attacker.example/push", PUSH_ACCOUNT)
    if case == "wrong_email":
        return signer.mint(AUDIENCE, "someone@else.iam.gserviceaccount.com")
    if case == "email_unverified":
        return signer.mint(AUDIENCE, PUSH_ACCOUNT, email_verified=False)
    if case == "wrong_issuer":
        return signer.mint(AUDIENCE, PUSH_ACCOUNT, issuer="https://evil.example")
    if case == "unknown_key":
        return signer.mint(AUDIENCE, PUSH_ACCOUNT, kid="not-published", key=new_rsa_key())
    if case == "invalid_signature":
        header, claims, signature = signer.mint(AUDIENCE, PUSH_ACCOUNT).split(".")
        tampered = signature[:-4] + ("AAAA" if signature[-4:] != "AAAA" else "BBBB")
        return f"{header}.{claims}.{tampered}"
    if case == "malformed":
        return "not-a-jwt"
    raise AssertionError(case)


@pytest.mark.parametrize(
    "case",
    [
        "missing_token",
        "expired",
        "wrong_audience",
        "wrong_email",
        "email_unverified",
        "wrong_issuer",
        "unknown_key",
        "invalid_signature",
        "malformed",
    ],
)
def test_forged_pushes_get_401_and_nothing_is_stored(play, publisher, session, endpoint, case):
    url, kept = endpoint
    token = play.store.purchase("premium", "monthly")
    notification = publisher.subscription_notification(token, 4)
    bearer = _forged_token(play, publisher, case)
    request = publisher.request(notification, token=bearer, authenticated=bearer is not None)

    response = publisher.deliver(session, url, request)

    assert response.status_code == 401
    assert _reason(response) == case
    assert kept == []


def test_a_tampered_claim_fails_the_signature(play, publisher, receiver):
    import base64
    import json

    header, claims, signature = play.signer.mint(AUDIENCE, "other@x.iam.gserviceaccount.com").split(
        "."
    )
    decoded = json.loads(base64.urlsafe_b64decode(claims + "=="))
    decoded["email"] = PUSH_ACCOUNT
    forged = base64.urlsafe_b64encode(json.dumps(decoded).encode()).rstrip(b"=").decode()

    with pytest.raises(PushUnauthenticated) as raised:
        receiver.authenticate(f"Bearer {header}.{forged}.{signature}")

    assert raised.value.reason == "invalid_signature"
    assert raised.value.authentication is True


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "malformed"),
        (b'{"message": {"messageId": "1", "data": "%%%"}}', "malformed"),
        (b'{"message": {"data": "e30="}}', "malformed"),
    ],
)
def test_an_authenticated_malformed_body_gets_400_and_is_kept(
    publisher, session, endpoint, body, reason
):
    url, kept = endpoint
    request = publisher.request({})
    response = session.post(url, data=body, headers=request.headers, timeout=5)

    assert response.status_code == 400
    assert _reason(response) == reason
    assert kept == [body]


def test_a_notification_for_another_app_is_wrong_app(play, publisher, session, endpoint):
    url, kept = endpoint
    notification = publisher.test_notification()
    notification["packageName"] = "com.other.app"

    response = publisher.deliver(session, url, publisher.request(notification))

    assert response.status_code == 400 and _reason(response) == "wrong_app"
    assert len(kept) == 1


def test_a_rotated_key_is_fetched_on_first_sight(play, publisher, receiver, clock):
    request = publisher.request(publisher.test_notification())
    receiver.receive(request.authorization, request.body)  # caches the current keys
    play.signer.rotate()
    clock.advance(timedelta(seconds=30))  # the refetch rate limit

    rotated = publisher.request(publisher.test_notification())
    push = receiver.receive(rotated.authorization, rotated.body)

    assert push.notification.test


def test_unknown_key_ids_do_not_flood_the_key_endpoint(play, publisher, session, clock, base_url):
    fetches: list[str] = []

    class CountingSession(requests.Session):
        def get(self, url, **kwargs):  # type: ignore[override]
            fetches.append(url)
            return super().get(url, **kwargs)

    keys = JwksCache(CountingSession(), clock, url=base_url + CERTS_PATH)
    receiver = PushReceiver(PushAuthenticator(keys, clock, AUDIENCE, PUSH_ACCOUNT), PACKAGE)
    stranger = new_rsa_key()
    for number in range(20):
        forged = play.signer.mint(AUDIENCE, PUSH_ACCOUNT, kid=f"made-up-{number}", key=stranger)
        with pytest.raises(PushUnauthenticated):
            receiver.authenticate(f"Bearer {forged}")
    assert len(fetches) == 1

    clock.advance(timedelta(seconds=31))
    with pytest.raises(PushUnauthenticated):
        receiver.authenticate(
            f"Bearer {play.signer.mint(AUDIENCE, PUSH_ACCOUNT, kid='x', key=stranger)}"
        )
    assert len(fetches) == 2


def test_keys_that_cannot_be_fetched_are_unavailable_not_unauthenticated(
    play, publisher, session, clock
):
    keys = JwksCache(session, clock, url="http://127.0.0.1:9/certs")
    receiver = PushReceiver(PushAuthenticator(keys, clock, AUDIENCE, PUSH_ACCOUNT), PACKAGE)
    request = publisher.request(publisher.test_notification())

    with pytest.raises(PlayUnavailable):
        receiver.authenticate(request.authorization)
