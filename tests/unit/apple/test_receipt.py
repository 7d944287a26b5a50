"""App receipts: BER-encoded PKCS#7 read for their purchases, never trusted."""

from __future__ import annotations

import base64
import json

import pytest

from store_adapters.apple import ber
from store_adapters.apple.ber import BerError
from store_adapters.apple.errors import ReceiptError
from store_adapters.apple.receipt import parse_receipt
from tests.support.realdata import realdata, realdata_root

LEGACY = ("apple", "legacy-receipts")


def summary() -> dict[str, dict[str, object]]:
    return json.loads(realdata(*LEGACY, "PARSED_SUMMARY.json").read_text())  # type: ignore[no-any-return]


def receipt_names() -> list[str]:
    root = realdata_root()
    path = root / "apple" / "legacy-receipts" / "PARSED_SUMMARY.json" if root else None
    return sorted(json.loads(path.read_text())) if path and path.exists() else []


@pytest.mark.parametrize("name", receipt_names())
def test_every_real_receipt_reads_as_summarised(name: str) -> None:
    expected = summary()[name]
    parsed = parse_receipt(realdata(*LEGACY, name).read_text())
    receipt = expected["receipt"]
    first = expected["first_in_app"]
    assert isinstance(receipt, dict) and isinstance(first, dict)
    assert parsed.bundle_id == receipt["bundle_id"]
    assert parsed.receipt_type == receipt["receipt_type"]
    assert parsed.creation_date == receipt["receipt_creation_date"]
    assert parsed.application_version == receipt["application_version"]
    assert len(parsed.purchases) == receipt["in_app_count"]
    purchase = parsed.purchases[0]
    assert purchase.transaction_id == first["transaction_id"]
    assert purchase.original_transaction_id == first.get("original_transaction_id")
    assert purchase.product_id == first["product_id"]
    assert purchase.quantity == first["quantity"]
    assert purchase.purchase_date == first["purchase_date"]
    assert purchase.expires_date == first["expires_date"]
    assert purchase.web_order_line_item_id == first.get("web_order_line_item_id")
    assert purchase.cancellation_date == first.get("cancellation_date")
    assert parsed.transaction_ids[0] == (first.get("original_transaction_id") or "0")


def test_the_identical_revenuecat_copies_read_alike() -> None:
    names = [
        "revenuecat-base64EncodedReceiptSampleForDataExtension.txt",
        "revenuecat-base64encoded_sandboxReceipt.txt",
        "revenuecat-base64encodedreceiptsample1.txt",
    ]
    parsed = {parse_receipt(realdata(*LEGACY, n).read_text()) for n in names}
    assert len(parsed) == 1
    (receipt,) = parsed
    assert receipt.environment == "Sandbox"
    assert len({p.transaction_id for p in receipt.purchases}) == 9


def test_the_receipt_lists_the_same_transactions_as_verify_receipt() -> None:
    answer = json.loads(realdata(*LEGACY, "revenuecat-verifyReceiptSample1.txt").read_text())
    receipt = parse_receipt(
        realdata(*LEGACY, "revenuecat-base64encoded_sandboxReceipt.txt").read_text()
    )
    assert {p.transaction_id for p in receipt.purchases} == {
        entry["transaction_id"] for entry in answer["receipt"]["in_app"]
    }


def test_the_production_receipt_names_its_environment() -> None:
    receipt = parse_receipt(realdata(*LEGACY, "tpinappreceipt-receipt-production").read_text())
    assert receipt.environment == "Production"
    assert len(receipt.transaction_ids) >= 4


def test_xcode_receipts_from_apples_library() -> None:
    empty = parse_receipt(
        realdata("apple", "library-test-vectors", "xcode", "xcode-app-receipt-empty").read_text()
    )
    assert (empty.receipt_type, empty.transaction_ids) == ("Xcode", ())
    assert empty.environment == "Xcode"
    with_transaction = parse_receipt(
        realdata(
            "apple", "library-test-vectors", "xcode", "xcode-app-receipt-with-transaction"
        ).read_text()
    )
    assert with_transaction.transaction_ids == ("0",)
    assert with_transaction.bundle_id == "com.example.naturelab.backyardbirds.example"


@pytest.mark.parametrize(
    "receipt",
    [
        "",
        "not base64 !",
        base64.b64encode(b"\x30\x03\x02\x01").decode(),  # truncated SEQUENCE
        base64.b64encode(b"\x30\x03\x02\x01\x01").decode(),  # a SEQUENCE, not PKCS#7
        base64.b64encode(b"\x30\x80\x02\x01\x01").decode(),  # indefinite, never closed
        base64.b64encode(b"\x04\x84\xff\xff\xff\xff").decode(),  # length past the end
        base64.b64encode(b"\x30\x80" * 200).decode(),  # absurdly deep
    ],
)
def test_garbage_is_a_receipt_error(receipt: str) -> None:
    with pytest.raises(ReceiptError) as rejected:
        parse_receipt(receipt)
    assert rejected.value.reason == "malformed_receipt"


def test_a_truncated_real_receipt_is_a_receipt_error() -> None:
    data = base64.b64decode(realdata(*LEGACY, "tpinappreceipt-receipt-production").read_text())
    with pytest.raises(ReceiptError):
        parse_receipt(base64.b64encode(data[: len(data) // 2]).decode())


def test_ber_constructed_strings_and_indefinite_lengths() -> None:
    # [SEQUENCE, indefinite] { OCTET STRING constructed, indefinite { "ab", "cd" } } EOC
    data = bytes.fromhex("30802480040261620402636400000000")
    element = ber.decode(data)
    assert element.is_universal(ber.SEQUENCE)
    (inner,) = element.children
    assert inner.octets() == b"abcd"


def test_ber_high_tag_numbers_and_long_lengths() -> None:
    content = b"x" * 300
    data = bytes.fromhex("9f8110") + b"\x82\x01\x2c" + content
    element = ber.decode(data)
    assert (element.tag_class, element.tag, element.content) == (ber.CONTEXT, 144, content)


def test_ber_object_identifiers() -> None:
    oid = bytes.fromhex("06092a864886f70d010702")
    assert ber.decode(oid).oid() == "1.2.840.113549.1.7.2"
    with pytest.raises(BerError):
        ber.decode(bytes.fromhex("0602 2a86")).oid()


def test_ber_rejects_an_indefinite_primitive() -> None:
    with pytest.raises(BerError):
        ber.decode(bytes.fromhex("0480 0000"))
