"""Normalized, store-agnostic store input.

A store adapter turns whatever a store sent (a signed notification, an API answer, a voided
purchase) into one `StoreEvent`. An event carries three things, merged by different rules:

- facts (`periods`, `revocations`): merged by identity whatever order they arrive in, so a
  refund applies even when it arrives before the renewal it refunds;
- the store's own report of the current state (`state`), last-writer-wins on `store_time`;
- the `kind`, which the lifecycle table checks against the subscription's status.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from iap_engine.domain.values import (
    Environment,
    ExpirationReason,
    OfferKind,
    ProductType,
    RevocationReason,
    Status,
    Store,
)


class EventKind(StrEnum):
    PURCHASED = "purchased"
    RENEWED = "renewed"
    RECOVERED = "recovered"
    RENEWAL_FAILED = "renewal_failed"
    GRACE_PERIOD_STARTED = "grace_period_started"
    GRACE_PERIOD_EXPIRED = "grace_period_expired"
    AUTO_RENEW_DISABLED = "auto_renew_disabled"
    AUTO_RENEW_ENABLED = "auto_renew_enabled"
    PRODUCT_CHANGED = "product_changed"
    RENEWAL_PRODUCT_CHANGED = "renewal_product_changed"
    PRICE_INCREASE = "price_increase"
    EXPIRED = "expired"
    REFUNDED = "refunded"
    REFUND_DECLINED = "refund_declined"
    REFUND_REVERSED = "refund_reversed"
    REVOKED = "revoked"
    PAUSED = "paused"
    PAUSE_SCHEDULED = "pause_scheduled"
    RESUMED = "resumed"
    RENEWAL_EXTENDED = "renewal_extended"
    PENDING = "pending"
    PENDING_CANCELED = "pending_canceled"
    CONSUMPTION_REQUESTED = "consumption_requested"
    # The store's state fetched from its API with no event attached (reconciliation).
    REFRESHED = "refreshed"
    TEST = "test"
    # A store type or value this version does not know: recorded, never fatal.
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True, kw_only=True)
class Period:
    """One paid (or free) term, identified by the store's transaction id.

    `ends_at` is None for a purchase with no end (a non-consumable). `replaces_prior` marks an
    immediate product change: any earlier period still running when this one starts ends then
    (see `Subscription.replaced_at`). `grace_ends_at` is a store-granted grace period that
    followed this term when its renewal failed.
    """

    transaction_id: str
    product_id: str
    starts_at: datetime
    ends_at: datetime | None
    offer: OfferKind = OfferKind.NORMAL
    price_micros: int | None = None
    currency: str | None = None
    replaces_prior: bool = False
    grace_ends_at: datetime | None = None
    # Store time of the input that reported this version of the period.
    as_of: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Revocation:
    """A refund or revocation of one period; `revoked_at` None records its reversal."""

    transaction_id: str
    revoked_at: datetime | None
    reason: RevocationReason | None = None
    as_of: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreState:
    """The current fields of a subscription as the store reported them at one instant."""

    status: Status
    product_id: str
    auto_renew: bool
    expires_at: datetime | None
    grace_expires_at: datetime | None = None
    renewal_product_id: str | None = None
    expiration_reason: ExpirationReason | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreEvent:
    kind: EventKind
    store_time: datetime
    state: StoreState | None = None
    periods: tuple[Period, ...] = ()
    revocations: tuple[Revocation, ...] = ()
    # The store's own names, kept for the timeline and support.
    store_type: str | None = None
    store_subtype: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreRecord:
    """What a store adapter hands the engine: an event plus the identity it belongs to.

    `store_key` identifies the subscription at the store (Apple originalTransactionId; Google
    the purchase token). `linked_key` is the key this purchase replaced (Google
    linkedPurchaseToken): the engine keeps the chain one subscription.
    """

    store: Store
    environment: Environment
    store_key: str
    event: StoreEvent
    product_type: ProductType | None = None
    linked_key: str | None = None
    # The app's own account reference (Apple appAccountToken, Google
    # obfuscatedExternalAccountId), when the app sent one.
    account_hint: str | None = None
