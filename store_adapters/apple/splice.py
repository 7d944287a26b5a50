"""Decoding a notification payload whose nested headers are already known.

A notification's payload embeds its transaction and renewal info, and their headers (4.5 KB
of certificates each, about 80% of the payload) are the very header the notification was
signed under, which the verifier has just matched. Decoding and JSON-parsing those
stretches would be most of a verification's cost besides the ECDSA operations, so:

1. `KnownText` holds the header text encoded at each of the three byte alignments;
2. `decode` finds those encodings in the payload (group-aligned: base64 maps 4 characters
   to 3 bytes independently of its neighbours, so a match decodes to exactly the known
   bytes), decodes only the gaps, and puts one `MARK` character where each whole header
   was;
3. after the (now small) JSON parse, `restore` puts the header text back into the strings.

The result is exactly what a plain decode and parse give: `decode` refuses (count 0) when
the data itself contains `MARK`, and `restore` reports any mark it could not put back, in
which case the caller decodes plainly. The signature is verified over the original text
either way.
"""

from __future__ import annotations

import binascii
from collections.abc import Callable
from typing import Any

# DEL: legal unescaped inside JSON strings, never part of base64url or of Apple's payloads
# (and checked for: data that contains it is decoded plainly).
MARK = "\x7f"
_MARK = MARK.encode("ascii")
_STANDARD = bytes.maketrans(b"+/", b"-_")
_PREFIX = 16


class KnownText:
    __slots__ = ("text", "text_str", "variants")

    def __init__(self, text: bytes) -> None:
        self.text = text
        self.text_str = text.decode("ascii")
        variants = []
        for skip in (0, 1, 2):
            # `skip` bytes of the text end the group before the first whole one.
            body = text[skip : skip + (len(text) - skip) // 3 * 3]
            if len(body) >= 3 * _PREFIX:
                encoded = binascii.b2a_base64(body, newline=False).translate(_STANDARD)
                variants.append((encoded[:_PREFIX], encoded, body, skip))
        self.variants = tuple(variants)


def _matches(segment: bytes, known: KnownText) -> list[tuple[int, int]]:
    """(position, variant) of every group-aligned full encoding, in order."""
    variants = known.variants
    found = [segment.find(prefix) for prefix, _, _, _ in variants]
    matches: list[tuple[int, int]] = []
    while True:
        index = -1
        for candidate, position in enumerate(found):
            if position >= 0 and (index < 0 or position < found[index]):
                index = candidate
        if index < 0:
            return matches
        position = found[index]
        prefix, encoded, _, _ = variants[index]
        if position % 4 == 0 and segment.startswith(encoded, position):
            matches.append((position, index))
            end = position + len(encoded)
            for other, (other_prefix, _, _, _) in enumerate(variants):
                if 0 <= found[other] < end:
                    found[other] = segment.find(other_prefix, end)
        else:
            found[index] = segment.find(prefix, position + 1)


def decode(segment: bytes, known: KnownText, b64url: Callable[[bytes], bytes]) -> tuple[bytes, int]:
    """The decoded segment with each whole occurrence of the known text replaced by `MARK`,
    and how many were replaced (0: a plain decode)."""
    matches = _matches(segment, known)
    if not matches:
        return b64url(segment), 0
    gaps = []
    start = 0
    for position, index in matches:
        gaps.append(b64url(segment[start:position]))
        start = position + len(known.variants[index][1])
    gaps.append(b64url(segment[start:]))
    if any(_MARK in gap for gap in gaps):
        return b64url(segment), 0
    text = known.text
    out = [gaps[0]]
    count = 0
    for number, (_, index) in enumerate(matches):
        _, _, body, skip = known.variants[index]
        tail = len(text) - skip - len(body)
        previous, following = out[-1], gaps[number + 1]
        if previous.endswith(text[:skip]) and following.startswith(text[len(text) - tail :]):
            out[-1] = previous[: len(previous) - skip]
            out.append(_MARK)
            out.append(following[tail:])
            count += 1
        else:
            out.append(body)
            out.append(following)
    return b"".join(out), count


def restore(value: dict[str, Any], known: KnownText, count: int) -> bool:
    """Put the known text back where `decode` marked it; False if a mark was not found in
    any string value (the caller then decodes plainly)."""
    remaining = count
    stack: list[Any] = [value]
    while stack and remaining:
        node = stack.pop()
        items = node.items() if type(node) is dict else enumerate(node)
        for key, item in items:
            if type(item) is str:
                if MARK in item:
                    remaining -= item.count(MARK)
                    node[key] = item.replace(MARK, known.text_str)
            elif type(item) is dict or type(item) is list:
                stack.append(item)
    return remaining == 0
