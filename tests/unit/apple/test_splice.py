"""Decoding with known text gives exactly what a plain decode and parse give."""

from __future__ import annotations

import json
import random

import pytest

from store_adapters.apple import jws, splice
from store_emulator.apple.signer import JwsSigner
from tests.unit.apple.conftest import notification_payload, renewal_payload, transaction_payload


def header_of(token: str) -> bytes:
    return token[: token.index(".")].encode("ascii")


def both(token: str, known: splice.KnownText) -> tuple[jws.Json, jws.Json]:
    return jws.open_compact(token, known)[3], jws.open_compact(token)[3]


def test_a_notification_decodes_identically(signer: JwsSigner) -> None:
    token = signer.sign(
        notification_payload(
            signer, "DID_RENEW", transaction=transaction_payload(), renewal=renewal_payload()
        )
    )
    known = splice.KnownText(header_of(token))
    segment = token.split(".")[1].encode()
    decoded, marks = splice.decode(segment, known, jws.b64url)
    assert marks == 2
    assert len(decoded) < len(jws.b64url(segment)) // 3
    spliced, plain = both(token, known)
    assert spliced == plain


def test_random_placements_decode_identically(signer: JwsSigner) -> None:
    text = header_of(signer.sign({"x": 1})).decode()
    known = splice.KnownText(text.encode())
    shuffler = random.Random(7)
    for _ in range(300):
        values: list[object] = []
        for _ in range(shuffler.randint(0, 4)):
            choice = shuffler.random()
            pad = "p" * shuffler.randint(0, 5)
            if choice < 0.4:
                values.append(pad + text + ".x.y")
            elif choice < 0.6:
                values.append(text[: shuffler.randint(0, len(text))] + pad)
            elif choice < 0.7:
                values.append(text + text)
            elif choice < 0.8:
                values.append({pad + text: [text, pad]})
            else:
                values.append(pad * 3)
        payload = {"k" * shuffler.randint(0, 3): values, "n": shuffler.randint(0, 10**9)}
        token = signer.sign(payload)
        spliced, plain = both(token, known)
        assert spliced == plain == json.loads(json.dumps(payload))


@pytest.mark.parametrize(
    "payload",
    [
        {"a": "\x7f", "b": "HEADER.x.y"},
        {"HEADER": 1},
        {"a": ["HEADER", {"b": "HEADER\x7f"}]},
        {},
    ],
)
def test_edge_cases_decode_identically(signer: JwsSigner, payload: dict[str, object]) -> None:
    text = header_of(signer.sign({"x": 1})).decode()
    concrete = json.loads(json.dumps(payload).replace("HEADER", text))
    token = signer.sign(concrete)
    spliced, plain = both(token, splice.KnownText(text.encode()))
    assert spliced == plain == concrete


def test_short_texts_are_never_spliced() -> None:
    known = splice.KnownText(b"eyJhbGciOiJFUzI1NiJ9")
    assert known.variants == ()
    segment = b"eyJhbGciOiJFUzI1NiJ9"
    assert splice.decode(segment, known, jws.b64url) == (jws.b64url(segment), 0)
