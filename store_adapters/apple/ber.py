"""A small BER reader: enough ASN.1 for Apple's PKCS#7 app receipts.

Apple's receipts are BER, not DER: Xcode's use indefinite lengths and OCTET STRINGs split
into constructed chunks. This reads tag/length/value triples (definite and indefinite
lengths, high tag numbers, constructed strings), with depth and size limits, and nothing
more: no schema, no signature checking.
"""

from __future__ import annotations

from dataclasses import dataclass

UNIVERSAL = 0
CONTEXT = 2

INTEGER = 2
OCTET_STRING = 4
OBJECT_IDENTIFIER = 6
UTF8_STRING = 12
SEQUENCE = 16
SET = 17
IA5_STRING = 22

MAX_DEPTH = 48


class BerError(ValueError):
    """The bytes are not well-formed BER."""


@dataclass(frozen=True, slots=True)
class Element:
    tag_class: int
    constructed: bool
    tag: int
    # Content octets of a primitive element; the children of a constructed one.
    content: bytes
    children: tuple[Element, ...]

    def is_universal(self, tag: int) -> bool:
        return self.tag_class == UNIVERSAL and self.tag == tag

    def octets(self) -> bytes:
        """The value of a (possibly constructed, chunked) string type."""
        if not self.constructed:
            return self.content
        return b"".join(child.octets() for child in self.children)

    def integer(self) -> int:
        if self.constructed or not self.content:
            raise BerError("an INTEGER must be primitive and non-empty")
        return int.from_bytes(self.content, "big", signed=True)

    def text(self) -> str:
        try:
            return self.octets().decode("utf-8")
        except UnicodeDecodeError:
            raise BerError("a string is not UTF-8") from None

    def oid(self) -> str:
        if self.constructed or not self.content:
            raise BerError("an OBJECT IDENTIFIER must be primitive and non-empty")
        arcs: list[int] = []
        value = 0
        for byte in self.content:
            value = (value << 7) | (byte & 0x7F)
            if not byte & 0x80:
                arcs.append(value)
                value = 0
        if value or not arcs:
            raise BerError("an OBJECT IDENTIFIER ends mid-arc")
        first = min(arcs[0] // 40, 2)
        return ".".join(str(arc) for arc in (first, arcs[0] - 40 * first, *arcs[1:]))


def decode(data: bytes) -> Element:
    """The single element `data` holds (trailing zero padding is tolerated)."""
    element, end = _read(data, 0, 0)
    if data[end:].strip(b"\x00"):
        raise BerError("bytes follow the outermost element")
    return element


def _read(data: bytes, offset: int, depth: int) -> tuple[Element, int]:
    if depth > MAX_DEPTH:
        raise BerError("nesting is too deep")
    if offset >= len(data):
        raise BerError("an element is cut short")
    first = data[offset]
    offset += 1
    tag_class = first >> 6
    constructed = bool(first & 0x20)
    tag = first & 0x1F
    if tag == 0x1F:
        tag = 0
        while True:
            if offset >= len(data):
                raise BerError("a tag is cut short")
            byte = data[offset]
            offset += 1
            tag = (tag << 7) | (byte & 0x7F)
            if not byte & 0x80:
                break
            if tag > 1 << 28:
                raise BerError("a tag number is too large")
    if offset >= len(data):
        raise BerError("a length is missing")
    length_byte = data[offset]
    offset += 1
    children: list[Element] = []
    if length_byte == 0x80:
        if not constructed:
            raise BerError("an indefinite length on a primitive element")
        while True:
            if data[offset : offset + 2] == b"\x00\x00":
                return Element(tag_class, True, tag, b"", tuple(children)), offset + 2
            child, offset = _read(data, offset, depth + 1)
            children.append(child)
    if length_byte & 0x80:
        count = length_byte & 0x7F
        if count > 4 or offset + count > len(data):
            raise BerError("a length is too large or cut short")
        length = int.from_bytes(data[offset : offset + count], "big")
        offset += count
    else:
        length = length_byte
    end = offset + length
    if end > len(data):
        raise BerError("an element is longer than the data")
    if not constructed:
        return Element(tag_class, False, tag, data[offset:end], ()), end
    while offset < end:
        child, offset = _read(data, offset, depth + 1)
        children.append(child)
    if offset != end:
        raise BerError("a constructed element's children overrun it")
    return Element(tag_class, True, tag, b"", tuple(children)), end
