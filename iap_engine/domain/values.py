"""The small vocabularies the rest of the domain is written in.

Every enum's value is the string used in the public contract and in the database.
"""

from __future__ import annotations

from enum import StrEnum


class Store(StrEnum):
    APP_STORE = "app_store"
    PLAY_STORE = "play_store"


class Environment(StrEnum):
    PRODUCTION = "production"
    SANDBOX = "sandbox"


class Status(StrEnum):
    """Contract statuses (DESIGN.md section 3). "Cancelled" is `active` with auto-renew off."""

    PENDING = "pending"
    ACTIVE = "active"
    GRACE_PERIOD = "grace_period"
    BILLING_RETRY = "billing_retry"
    PAUSED = "paused"
    EXPIRED = "expired"
    REVOKED = "revoked"


# Statuses in which a subscription may grant access (up to its access_until).
ACCESS_STATUSES = frozenset({Status.ACTIVE, Status.GRACE_PERIOD})


class OfferKind(StrEnum):
    TRIAL = "trial"
    INTRO = "intro"
    PROMOTIONAL = "promotional"
    OFFER_CODE = "offer_code"
    WIN_BACK = "win_back"
    NORMAL = "normal"


class ProductType(StrEnum):
    AUTO_RENEWABLE = "auto_renewable"
    NON_RENEWING = "non_renewing"
    NON_CONSUMABLE = "non_consumable"
    CONSUMABLE = "consumable"


class ExpirationReason(StrEnum):
    VOLUNTARY = "voluntary"
    BILLING_ERROR = "billing_error"
    PRICE_INCREASE = "price_increase"
    PRODUCT_UNAVAILABLE = "product_unavailable"
    DEVELOPER = "developer"
    SYSTEM = "system"
    REPLACED = "replaced"
    PENDING_CANCELED = "pending_canceled"
    REVOKED = "revoked"
    UNKNOWN = "unknown"


class RevocationReason(StrEnum):
    REFUNDED = "refunded"
    REFUNDED_APP_ISSUE = "refunded_app_issue"
    CHARGEBACK = "chargeback"
    FAMILY_SHARING = "family_sharing"
    DEVELOPER = "developer"
    UNKNOWN = "unknown"


class Source(StrEnum):
    """Where an input came from; recorded on every timeline event."""

    WEBHOOK = "webhook"
    API = "api"
    PURCHASE = "purchase"
    RECONCILE = "reconcile"
    SUPPORT = "support"
