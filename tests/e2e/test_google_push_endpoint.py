"""The engine's Google push endpoint, with the real adapter, against emulator-signed pushes.

Unauthenticated or forged pushes are refused with 401 and store nothing; an authenticated
push with a malformed body is refused with 400 and its raw body is kept for inspection.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select

from iap_engine.persistence.database import create_database_engine
from iap_engine.persistence.tables import inbox
from store_emulator.delivery import DEFAULT_PUSH_ACCOUNT
from store_emulator.google.push import PushPublisher
from tests.e2e.scenarios import PREMIUM, world

pytestmark = pytest.mark.slow


def stored(database_url: str) -> list[tuple[str, bytes]]:
    engine = create_database_engine(database_url)
    try:
        with engine.connect() as connection:
            return [(r.status, bytes(r.body)) for r in connection.execute(select(inbox))]
    finally:
        engine.dispose()


def test_forged_pushes_get_401_and_a_malformed_authenticated_one_400(
    tmp_path: Path, fresh_database: Callable[[], str]
) -> None:
    database_url = fresh_database()
    with world(tmp_path, database_url) as w:
        google = w.emulator.google
        assert google is not None
        play = google.play
        audience = w.emulator.push_audience
        publisher = PushPublisher(play, audience, DEFAULT_PUSH_ACCOUNT)
        token = google.purchase(PREMIUM, "monthly")
        notification = publisher.subscription_notification(token, 4)
        url = f"{w.engine.url}/v1/notifications/google"
        stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)

        def mint(**claims: object) -> str:
            return play.signer.mint(audience, DEFAULT_PUSH_ACCOUNT, **claims)  # type: ignore[arg-type]

        valid = mint()
        head, body, signature = valid.split(".")
        tampered = f"{head}.{body}.{signature[:-4]}{'AAAA' if signature[-4:] != 'AAAA' else 'BBBB'}"
        forgeries = {
            "no token": None,
            "expired": mint(issued_ago=timedelta(hours=2)),
            "wrong audience": play.signer.mint("https://elsewhere.example", DEFAULT_PUSH_ACCOUNT),
            "wrong email": play.signer.mint(audience, "intruder@evil.example"),
            "unknown key id": mint(kid="no-such-key", key=stranger),
            "tampered signature": tampered,
        }
        with requests.Session() as http:
            http.trust_env = False
            for case, bearer in forgeries.items():
                push = publisher.request(
                    notification, token=bearer, authenticated=bearer is not None
                )
                answer = http.post(url, data=push.body, headers=push.headers, timeout=30)
                assert answer.status_code == 401, (case, answer.text)
                assert answer.json()["error"]["code"], case
            assert stored(database_url) == []

            garbage = b'{"message": {"data": "not base64!", "messageId": "m-1"}}'
            answer = http.post(
                url,
                data=garbage,
                headers={"Authorization": f"Bearer {mint()}", "Content-Type": "application/json"},
                timeout=30,
            )
            assert answer.status_code == 400, answer.text
            assert stored(database_url) == [("rejected", garbage)]

            good = publisher.request(notification)
            answer = http.post(url, data=good.body, headers=good.headers, timeout=30)
            assert answer.status_code == 200, answer.text
            assert json.loads(answer.text)["result"] == "processed"
