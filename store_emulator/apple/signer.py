"""Signing App Store data the way Apple does: compact JWS, ES256, the chain in x5c."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from store_emulator.apple.certificates import SigningChain

_ES256 = ec.ECDSA(hashes.SHA256())


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def encode_segment(value: Mapping[str, Any]) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode("utf-8"))


def es256(key: ec.EllipticCurvePrivateKey, signing_input: bytes) -> str:
    """A JOSE ES256 signature: r and s as two 32-byte big-endian integers."""
    r, s = decode_dss_signature(key.sign(signing_input, _ES256))
    return b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def sign_compact(
    header: Mapping[str, Any], payload: Mapping[str, Any], key: ec.EllipticCurvePrivateKey
) -> str:
    """Any header over any payload (tests use it for malformed and hostile tokens)."""
    signing_input = f"{encode_segment(header)}.{encode_segment(payload)}"
    return f"{signing_input}.{es256(key, signing_input.encode('ascii'))}"


class JwsSigner:
    """Signs payloads under one chain; the header is built once, like Apple's."""

    def __init__(self, chain: SigningChain) -> None:
        self.chain = chain
        self._header = encode_segment({"alg": "ES256", "x5c": chain.x5c})

    def sign(self, payload: Mapping[str, Any]) -> str:
        signing_input = f"{self._header}.{encode_segment(payload)}"
        return f"{signing_input}.{es256(self.chain.leaf_key, signing_input.encode('ascii'))}"
