"""Signed purchase data: SHA1withRSA over the purchase JSON, with the base64 licence key."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from store_adapters.google.errors import PlayNotConfigured, SignedDataRejected
from store_adapters.google.signature import LicenseKey, verify_purchase

PRIVATE = rsa.generate_private_key(public_exponent=65537, key_size=2048)
LICENSE = base64.b64encode(
    PRIVATE.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
).decode()
PURCHASE = json.dumps(
    {
        "orderId": "GPA.1234-5678-9012-34567",
        "packageName": "com.example.app",
        "productId": "lifetime",
        "purchaseTime": 1767225600000,
        "purchaseState": 0,
        "purchaseToken": "opaque-token",
        "obfuscatedAccountId": "u-1",
        "quantity": 1,
        "acknowledged": False,
    },
    separators=(",", ":"),
)


def sign(data: str) -> str:
    signature = PRIVATE.sign(data.encode(), padding.PKCS1v15(), hashes.SHA1())
    return base64.b64encode(signature).decode()


def test_a_valid_signature_yields_the_purchase():
    purchase = verify_purchase(
        LicenseKey.from_base64(LICENSE), PURCHASE, sign(PURCHASE), "com.example.app"
    )

    assert purchase.purchase_token == "opaque-token"
    assert purchase.product_ids == ("lifetime",)
    assert purchase.obfuscated_account_id == "u-1"
    assert purchase.purchase_time is not None and purchase.purchase_time.year == 2026


def test_a_changed_byte_fails():
    tampered = PURCHASE.replace('"purchaseState":0', '"purchaseState":1')

    with pytest.raises(SignedDataRejected) as raised:
        verify_purchase(LicenseKey.from_base64(LICENSE), tampered, sign(PURCHASE))

    assert raised.value.reason == "invalid_signature"


def test_another_app_and_bad_base64():
    key = LicenseKey.from_base64(LICENSE)
    with pytest.raises(SignedDataRejected, match="another app"):
        verify_purchase(key, PURCHASE, sign(PURCHASE), "com.other.app")
    with pytest.raises(SignedDataRejected) as raised:
        verify_purchase(key, PURCHASE, "%%%")
    assert raised.value.reason == "malformed"


@pytest.mark.parametrize("text", ["", "bm90IGEga2V5"])
def test_a_missing_or_bad_key_names_the_setting(text):
    with pytest.raises(PlayNotConfigured, match=r"google\.license_public_key"):
        LicenseKey.from_base64(text)
