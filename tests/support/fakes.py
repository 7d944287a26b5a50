"""Fake store gateways behind the service Protocols: records in, records out, no network."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from iap_engine.domain import Environment, Store, StoreRecord
from iap_engine.service.deliveries import ReadDelivery
from iap_engine.service.errors import DeliveryRejected, StoreRejected, StoreUnavailable
from iap_engine.service.purchases import Verified


@dataclass
class FakeReader:
    """Bodies are JSON {"id": ..., "ref": ...}; `ref` names a prepared outcome."""

    store: Store
    outcomes: dict[str, Callable[[], ReadDelivery]] = field(default_factory=dict)
    reads: int = 0

    def delivery_id(self, body: bytes) -> str | None:
        try:
            value = json.loads(body)["id"]
        except (ValueError, KeyError, TypeError):
            return None
        return str(value)

    def read(self, body: bytes) -> ReadDelivery:
        self.reads += 1
        try:
            ref = json.loads(body)["ref"]
        except (ValueError, KeyError, TypeError):
            raise DeliveryRejected(
                "malformed", "not a notification", authentication=False
            ) from None
        if ref in self.outcomes:
            return self.outcomes[ref]()
        if ref == "forged":
            raise DeliveryRejected("invalid_signature", "bad signature", authentication=True)
        if ref == "down":
            raise StoreUnavailable("store is down")
        raise DeliveryRejected("malformed", f"unknown notification {ref}", authentication=False)


@dataclass
class FakeApple:
    notifications: FakeReader = field(default_factory=lambda: FakeReader(Store.APP_STORE))
    purchases: dict[str, Verified] = field(default_factory=dict)
    orders: dict[str, Sequence[str]] = field(default_factory=dict)

    def from_signed_transaction(self, signed_transaction: str) -> Verified:
        if signed_transaction not in self.purchases:
            raise StoreRejected("invalid_signature", "the signature does not verify")
        return self.purchases[signed_transaction]

    def from_transaction_id(self, transaction_id: str) -> Verified:
        if transaction_id not in self.purchases:
            raise StoreRejected("transaction_not_found", f"no transaction {transaction_id}")
        return self.purchases[transaction_id]

    def from_receipt(self, receipt: str) -> Verified:
        return self.from_transaction_id(receipt)

    def original_ids_for_order(self, order_id: str) -> Sequence[str]:
        return self.orders.get(order_id, ())


@dataclass
class FakeGoogle:
    notifications: FakeReader = field(default_factory=lambda: FakeReader(Store.PLAY_STORE))
    purchases: dict[str, Verified] = field(default_factory=dict)
    valid_token: str = "valid-oidc"

    def authenticate_push(self, authorization: str | None) -> None:
        if authorization != f"Bearer {self.valid_token}":
            raise DeliveryRejected("invalid_token", "push not authenticated", authentication=True)

    def from_purchase(
        self, product_id: str, purchase_token: str, signed_data: str | None, signature: str | None
    ) -> Verified:
        if purchase_token not in self.purchases:
            raise StoreRejected("purchase_gone", "no such purchase")
        return self.purchases[purchase_token]


def record(store: Store, store_key: str, event, *, hint: str | None = None) -> StoreRecord:
    return StoreRecord(
        store=store,
        environment=Environment.SANDBOX,
        store_key=store_key,
        event=event,
        account_hint=hint,
    )


def api_key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()
