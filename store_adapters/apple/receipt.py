"""App receipts (base64 PKCS#7, BER): the purchases they list, to look up through the API.

Nothing read here is trusted: the receipt's signature is not checked (Apple's own
libraries do the same). Its transaction ids only name what to ask the App Store Server API,
whose answers are signed; its bundle id and receipt type only route and pre-filter.

Layout: ContentInfo(signedData) -> SignedData -> encapContentInfo -> [0] OCTET STRING,
holding a SET of ReceiptAttribute SEQUENCE { type INTEGER, version INTEGER, value OCTET
STRING }; type 17 holds an in-app purchase, itself a SET of such attributes.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from store_adapters.apple import ber
from store_adapters.apple.ber import BerError, Element
from store_adapters.apple.errors import ReceiptError

SIGNED_DATA_OID = "1.2.840.113549.1.7.2"
DATA_OID = "1.2.840.113549.1.7.1"
MAX_RECEIPT_BYTES = 4 * 1024 * 1024

# Receipt fields (Apple's "Receipt Fields"; 0 is the undocumented receipt type).
RECEIPT_TYPE = 0
BUNDLE_ID = 2
APPLICATION_VERSION = 3
CREATION_DATE = 12
IN_APP = 17
ORIGINAL_APPLICATION_VERSION = 19
EXPIRATION_DATE = 21
# In-app purchase fields.
QUANTITY = 1701
PRODUCT_ID = 1702
TRANSACTION_ID = 1703
PURCHASE_DATE = 1704
ORIGINAL_TRANSACTION_ID = 1705
ORIGINAL_PURCHASE_DATE = 1706
EXPIRES_DATE = 1708
WEB_ORDER_LINE_ITEM_ID = 1711
CANCELLATION_DATE = 1712


@dataclass(frozen=True, slots=True)
class ReceiptPurchase:
    transaction_id: str | None
    original_transaction_id: str | None
    product_id: str | None
    quantity: int | None
    # Dates as the receipt writes them (RFC 3339 text; empty when absent).
    purchase_date: str | None
    expires_date: str | None
    cancellation_date: str | None
    web_order_line_item_id: int | None


@dataclass(frozen=True, slots=True)
class AppReceipt:
    bundle_id: str | None
    application_version: str | None
    # "Production", "ProductionSandbox" or "Xcode": which environment issued it.
    receipt_type: str | None
    creation_date: str | None
    purchases: tuple[ReceiptPurchase, ...]

    @property
    def environment(self) -> str | None:
        """The Apple environment name the receipt type implies (None when unknown)."""
        return {
            "Production": "Production",
            "ProductionSandbox": "Sandbox",
            "Xcode": "Xcode",
        }.get(self.receipt_type or "")

    @property
    def transaction_ids(self) -> tuple[str, ...]:
        """Distinct transaction ids, original ids first, in receipt order."""
        seen: dict[str, None] = {}
        for purchase in self.purchases:
            for value in (purchase.original_transaction_id, purchase.transaction_id):
                if value:
                    seen.setdefault(value, None)
        return tuple(seen)


def parse_receipt(receipt: str | bytes) -> AppReceipt:
    """Read a base64 app receipt; `ReceiptError` if it is not one."""
    try:
        text = receipt if isinstance(receipt, str) else receipt.decode("ascii")
        if len(text) > MAX_RECEIPT_BYTES * 4 // 3 + 4:
            raise ReceiptError("the receipt is too large")
        data = base64.b64decode("".join(text.split()), validate=True)
    except (UnicodeDecodeError, binascii.Error, ValueError) as error:
        if isinstance(error, ReceiptError):
            raise
        raise ReceiptError("the receipt is not base64") from None
    try:
        return _receipt(_payload(ber.decode(data)))
    except BerError as error:
        raise ReceiptError(f"the receipt is not a PKCS#7 app receipt: {error}") from None


def _payload(content_info: Element) -> bytes:
    children = content_info.children
    if (
        not content_info.is_universal(ber.SEQUENCE)
        or len(children) < 2
        or not children[0].is_universal(ber.OBJECT_IDENTIFIER)
        or children[0].oid() != SIGNED_DATA_OID
    ):
        raise BerError("not PKCS#7 signed data")
    signed_data = _only_child(children[1])
    encapsulated = next(
        (c for c in signed_data.children if c.is_universal(ber.SEQUENCE) and _is_data(c)), None
    )
    if encapsulated is None or len(encapsulated.children) < 2:
        raise BerError("the signed data holds no receipt")
    content = _only_child(encapsulated.children[1])
    if not content.is_universal(ber.OCTET_STRING):
        raise BerError("the receipt content is not an OCTET STRING")
    return content.octets()


def _is_data(element: Element) -> bool:
    first = element.children[0] if element.children else None
    return (
        first is not None and first.is_universal(ber.OBJECT_IDENTIFIER) and first.oid() == DATA_OID
    )


def _only_child(explicit: Element) -> Element:
    if explicit.tag_class != ber.CONTEXT or explicit.tag != 0 or len(explicit.children) != 1:
        raise BerError("expected an explicit [0] wrapper")
    return explicit.children[0]


def _attributes(data: bytes) -> list[tuple[int, Element]]:
    """(type, decoded value) of every ReceiptAttribute in a SET."""
    container = ber.decode(data)
    if not container.is_universal(ber.SET):
        raise BerError("receipt attributes are not a SET")
    attributes = []
    for attribute in container.children:
        fields = attribute.children
        if len(fields) != 3 or not fields[2].is_universal(ber.OCTET_STRING):
            raise BerError("a receipt attribute is not (type, version, value)")
        value = fields[2].octets()
        attributes.append((fields[0].integer(), value))
    return [(kind, _value(value)) for kind, value in attributes]


def _value(octets: bytes) -> Element:
    # Most values are DER-encoded strings or integers; a few are opaque bytes.
    try:
        return ber.decode(octets)
    except BerError:
        return Element(ber.UNIVERSAL, False, ber.OCTET_STRING, octets, ())


def _text(element: Element | None) -> str | None:
    if element is None:
        return None
    if element.is_universal(ber.INTEGER):
        return str(element.integer())
    return element.text()


def _int(element: Element | None) -> int | None:
    if element is None or not element.is_universal(ber.INTEGER):
        return None
    return element.integer()


def _receipt(payload: bytes) -> AppReceipt:
    fields: dict[int, Element] = {}
    purchases = []
    for kind, value in _attributes(payload):
        if kind == IN_APP:
            purchases.append(_purchase(value))
        else:
            fields.setdefault(kind, value)
    return AppReceipt(
        bundle_id=_text(fields.get(BUNDLE_ID)),
        application_version=_text(fields.get(APPLICATION_VERSION)),
        receipt_type=_text(fields.get(RECEIPT_TYPE)),
        creation_date=_text(fields.get(CREATION_DATE)),
        purchases=tuple(purchases),
    )


def _purchase(value: Element) -> ReceiptPurchase:
    if not value.is_universal(ber.SET):
        raise BerError("an in-app purchase is not a SET")
    fields: dict[int, Element] = {}
    for attribute in value.children:
        parts = attribute.children
        if len(parts) != 3:
            raise BerError("an in-app attribute is not (type, version, value)")
        fields.setdefault(parts[0].integer(), _value(parts[2].octets()))
    return ReceiptPurchase(
        transaction_id=_text(fields.get(TRANSACTION_ID)),
        original_transaction_id=_text(fields.get(ORIGINAL_TRANSACTION_ID)),
        product_id=_text(fields.get(PRODUCT_ID)),
        quantity=_int(fields.get(QUANTITY)),
        purchase_date=_text(fields.get(PURCHASE_DATE)),
        expires_date=_text(fields.get(EXPIRES_DATE)),
        cancellation_date=_text(fields.get(CANCELLATION_DATE)),
        web_order_line_item_id=_int(fields.get(WEB_ORDER_LINE_ITEM_ID)),
    )
