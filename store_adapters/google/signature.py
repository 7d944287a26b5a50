"""Signed purchase data: the app's purchase JSON and its SHA1withRSA signature.

The Play Billing Library hands the app `Purchase.getOriginalJson()` and
`Purchase.getSignature()`: the signature is RSASSA-PKCS1-v1_5 with SHA-1 over the exact bytes
of that JSON string, made with the app's licensing key (Play Console > Monetization setup),
whose public half is a base64 X.509 SubjectPublicKeyInfo.

This is a fast local pre-check only: the purchase is confirmed with the Developer API.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_der_public_key

from store_adapters.google.errors import PlayNotConfigured, SignedDataRejected

KEY_SETTING = "google.license_public_key"


class LicenseKey:
    def __init__(self, key: RSAPublicKey) -> None:
        self._key = key

    @classmethod
    def from_base64(cls, text: str) -> LicenseKey:
        if not text.strip():
            raise PlayNotConfigured(
                KEY_SETTING,
                f"verifying signed purchase data needs {KEY_SETTING} (the base64 RSA public key"
                " in Play Console > Monetization setup > Licensing)",
            )
        try:
            key = load_der_public_key(base64.b64decode("".join(text.split()), validate=True))
        except (binascii.Error, ValueError):
            raise PlayNotConfigured(
                KEY_SETTING, f"{KEY_SETTING} is not a base64 X.509 public key"
            ) from None
        if not isinstance(key, RSAPublicKey):
            raise PlayNotConfigured(KEY_SETTING, f"{KEY_SETTING} is not an RSA key")
        return cls(key)

    def verify(self, signed_data: str | bytes, signature: str) -> None:
        data = signed_data.encode() if isinstance(signed_data, str) else signed_data
        try:
            raw = base64.b64decode("".join(signature.split()), validate=True)
        except (binascii.Error, ValueError):
            raise SignedDataRejected("malformed", "the signature is not base64") from None
        try:
            # SHA1withRSA is what Google signs purchase data with; we only verify it.
            self._key.verify(raw, data, padding.PKCS1v15(), hashes.SHA1())  # noqa: S303
        except InvalidSignature:
            raise SignedDataRejected(
                "invalid_signature", "the signature does not match the purchase data"
            ) from None


@dataclass(frozen=True, slots=True)
class SignedPurchase:
    order_id: str | None
    package_name: str
    product_id: str | None
    product_ids: tuple[str, ...]
    purchase_time: datetime | None
    purchase_state: int | None
    purchase_token: str
    obfuscated_account_id: str | None
    obfuscated_profile_id: str | None
    acknowledged: bool | None
    auto_renewing: bool | None
    quantity: int | None
    raw: dict[str, Any]


def verify_purchase(
    key: LicenseKey, signed_data: str | bytes, signature: str, package_name: str | None = None
) -> SignedPurchase:
    """Verify the signature, then read the purchase; raises `SignedDataRejected`."""
    key.verify(signed_data, signature)
    try:
        document = json.loads(signed_data)
    except (ValueError, UnicodeDecodeError):
        raise SignedDataRejected("malformed", "the signed data is not JSON") from None
    if not isinstance(document, dict):
        raise SignedDataRejected("malformed", "the signed data is not a JSON object")
    token = document.get("purchaseToken")
    package = document.get("packageName")
    if not isinstance(token, str) or not token or not isinstance(package, str):
        raise SignedDataRejected("malformed", "the signed data has no purchaseToken/packageName")
    if package_name is not None and package != package_name:
        raise SignedDataRejected("wrong_app", "the purchase is for another app")
    products = document.get("productIds")
    product_ids = (
        tuple(p for p in products if isinstance(p, str)) if isinstance(products, list) else ()
    )
    product_id = document.get("productId")
    if not isinstance(product_id, str):
        product_id = product_ids[0] if product_ids else None
    return SignedPurchase(
        order_id=_str(document.get("orderId")),
        package_name=package,
        product_id=product_id,
        product_ids=product_ids or ((product_id,) if product_id else ()),
        purchase_time=_millis(document.get("purchaseTime")),
        purchase_state=_int(document.get("purchaseState")),
        purchase_token=token,
        obfuscated_account_id=_str(document.get("obfuscatedAccountId")),
        obfuscated_profile_id=_str(document.get("obfuscatedProfileId")),
        acknowledged=_bool(document.get("acknowledged")),
        auto_renewing=_bool(document.get("autoRenewing")),
        quantity=_int(document.get("quantity")),
        raw=document,
    )


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _millis(value: Any) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    try:
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    except (ValueError, OverflowError, OSError):
        return None
