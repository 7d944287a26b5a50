"""The pure core: values, store events, the lifecycle table and access at an instant.

Imports the standard library only; every function that needs the time takes it as an argument.
"""

from iap_engine.domain.delivery import Delivery, DeliveryStatus
from iap_engine.domain.entitlement import (
    Access,
    Catalog,
    Grant,
    Product,
    access_at,
    entitlements_at,
    is_entitled,
)
from iap_engine.domain.events import (
    EventKind,
    Period,
    Revocation,
    StoreEvent,
    StoreRecord,
    StoreState,
)
from iap_engine.domain.lifecycle import (
    TRANSITIONS,
    Anomaly,
    Applied,
    Ignored,
    Outcome,
    Rule,
    Verdict,
    apply,
)
from iap_engine.domain.subscription import Subscription
from iap_engine.domain.timeline import TimelineEntry
from iap_engine.domain.values import (
    ACCESS_STATUSES,
    Environment,
    ExpirationReason,
    OfferKind,
    ProductType,
    RevocationReason,
    Source,
    Status,
    Store,
)

__all__ = [
    "ACCESS_STATUSES",
    "TRANSITIONS",
    "Access",
    "Anomaly",
    "Applied",
    "Catalog",
    "Delivery",
    "DeliveryStatus",
    "Environment",
    "EventKind",
    "ExpirationReason",
    "Grant",
    "Ignored",
    "OfferKind",
    "Outcome",
    "Period",
    "Product",
    "ProductType",
    "Revocation",
    "RevocationReason",
    "Rule",
    "Source",
    "Status",
    "Store",
    "StoreEvent",
    "StoreRecord",
    "StoreState",
    "Subscription",
    "TimelineEntry",
    "Verdict",
    "access_at",
    "apply",
    "entitlements_at",
    "is_entitled",
]
