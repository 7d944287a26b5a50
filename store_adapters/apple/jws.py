"""Compact JWS mechanics: size limits, base64url, JSON, and ES256 signatures.

Kept free of policy (what to trust) and short, because it runs three times per notification:
`open_compact` checks lengths, finds the dots and decodes the payload; `verify_es256`
converts JOSE's r||s signature to DER and asks `cryptography` once.
"""

from __future__ import annotations

import binascii
import json
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from store_adapters.apple import splice
from store_adapters.apple.errors import Reason, VerificationError

# Apple's headers carry three certificates (about 4.5 KB); a notification payload nests two
# JWS (about 15 KB). The limits leave room for growth and reject absurd input before any
# decoding, so a megabyte header costs a length comparison.
MAX_HEADER_CHARS = 16 * 1024
MAX_PAYLOAD_CHARS = 256 * 1024
SIGNATURE_CHARS = 86  # base64url of the 64-byte r||s of a P-256 signature
MAX_TOKEN_CHARS = MAX_HEADER_CHARS + MAX_PAYLOAD_CHARS + SIGNATURE_CHARS + 2

_URLSAFE = bytes.maketrans(b"-_", b"+/")
_PADDING = (b"", b"", b"==", b"=")
_ES256 = ec.ECDSA(hashes.SHA256())

Json = dict[str, Any]


def malformed(message: str) -> VerificationError:
    return VerificationError(Reason.MALFORMED, message)


_DECODER = json.JSONDecoder()


def open_compact(
    token: object, known: splice.KnownText | None = None
) -> tuple[bytes, int, int, Json]:
    """A compact JWS as (ASCII bytes, first dot, second dot, decoded payload).

    The hot path of every verification: a few length checks, one base64 decode and one JSON
    parse (both shortened by `known` text, see `splice`). Nothing here is trusted yet.
    """
    if type(token) is not str:
        raise malformed("a JWS must be a string")
    if len(token) > MAX_TOKEN_CHARS:
        raise malformed(f"the JWS is longer than {MAX_TOKEN_CHARS} characters")
    try:
        raw = token.encode("ascii")
    except UnicodeEncodeError:
        raise malformed("the JWS contains non-ASCII characters") from None
    first = raw.find(b".")
    second = raw.find(b".", first + 1)
    if first <= 0 or second < 0 or len(raw) - second - 1 != SIGNATURE_CHARS:
        raise malformed("not a compact JWS with a 64-byte ES256 signature")
    if first > MAX_HEADER_CHARS:
        raise malformed(f"the JWS header is longer than {MAX_HEADER_CHARS} characters")
    if second - first - 1 > MAX_PAYLOAD_CHARS:
        raise malformed(f"the JWS payload is longer than {MAX_PAYLOAD_CHARS} characters")
    segment = raw[first + 1 : second]
    if known is None:
        return raw, first, second, json_object(b64url(segment), "payload")
    decoded, marks = splice.decode(segment, known, b64url)
    payload = json_object(decoded, "payload")
    if marks and not splice.restore(payload, known, marks):
        payload = json_object(b64url(segment), "payload")
    return raw, first, second, payload


def b64url(segment: bytes) -> bytes:
    """Decode unpadded base64url.

    Not strict about stray characters on purpose: the signature covers the encoded text, so
    any alteration fails there, and the lenient decoder is measurably faster.
    """
    try:
        return binascii.a2b_base64(segment.translate(_URLSAFE) + _PADDING[len(segment) & 3])
    except (binascii.Error, ValueError):
        raise malformed("a JWS part is not base64url") from None


def json_object(data: bytes, what: str) -> Json:
    try:
        text = data.decode("utf-8")
        # raw_decode skips json.loads' encoding sniffing and trailing-space scan; what
        # follows the object is rejected below.
        value, end = _DECODER.raw_decode(text)
    except (ValueError, RecursionError):
        raise malformed(f"the JWS {what} is not JSON") from None
    if type(value) is not dict or (end != len(text) and text[end:].strip()):
        raise malformed(f"the JWS {what} is not a JSON object")
    return value


def header(raw: bytes, first_dot: int) -> Json:
    return json_object(b64url(raw[:first_dot]), "header")


# DER prefixes by (r needs a 0x00 pad, s needs one) for the common case of no leading zero.
_DER_HEAD = {
    (False, False): b"\x30\x44\x02\x20",
    (True, False): b"\x30\x45\x02\x21\x00",
    (False, True): b"\x30\x45\x02\x20",
    (True, True): b"\x30\x46\x02\x21\x00",
}
_DER_MID = {False: b"\x02\x20", True: b"\x02\x21\x00"}


def der_signature(signature: bytes) -> bytes:
    """JOSE's r||s (32 bytes each) as the DER SEQUENCE of two INTEGERs OpenSSL expects."""
    r0, s0 = signature[0], signature[32]
    if r0 and s0:
        return (
            _DER_HEAD[r0 >= 0x80, s0 >= 0x80]
            + signature[:32]
            + _DER_MID[s0 >= 0x80]
            + signature[32:]
        )
    # A leading zero byte (1 in 128 signatures): minimal encoding strips it.
    r = signature[:32].lstrip(b"\0")
    s = signature[32:].lstrip(b"\0")
    if not r or r[0] & 0x80:
        r = b"\0" + r
    if not s or s[0] & 0x80:
        s = b"\0" + s
    body = b"\x02" + bytes((len(r),)) + r + b"\x02" + bytes((len(s),)) + s
    return b"\x30" + bytes((len(body),)) + body


# The last of 86 characters carries 2 bits of the signature and 4 zero bits.
_CANONICAL_LAST = frozenset(b"AQgw")


def verify_es256(key: ec.EllipticCurvePublicKey, raw: bytes, second_dot: int) -> None:
    segment = raw[second_dot + 1 :]
    signature = b64url(segment)
    # Only the canonical encoding is accepted: otherwise spare bits of the last character,
    # or standard-alphabet characters, could vary without changing the signature (a
    # malleable token). Characters outside both alphabets shorten the decoded length.
    if (
        len(signature) != 64
        or segment[-1] not in _CANONICAL_LAST
        or b"+" in segment
        or b"/" in segment
        or b"=" in segment
    ):
        raise malformed("the JWS signature is not a canonical 64-byte ES256 signature")
    try:
        # A view, not a copy: the signed text of a notification is about 18 KB.
        key.verify(der_signature(signature), memoryview(raw)[:second_dot], _ES256)
    except InvalidSignature:
        raise VerificationError(
            Reason.INVALID_SIGNATURE, "the ES256 signature does not match the signed content"
        ) from None


def decode_unverified(token: str) -> tuple[Json, Json]:
    """Header and payload of a JWS without any check of trust (inspection, tests)."""
    raw, first, _, payload = open_compact(token.strip())
    return header(raw, first), payload
