"""Notifications V2 (notificationType, subtype) -> `EventKind`, as a table.

Sources: Apple's notificationType and subtype documentation (the life-cycle tables there).
A missing subtype is the key `None`. A type this version does not know, or a known type
with an unknown subtype, reads as `EventKind.UNKNOWN`: recorded, never fatal.
"""

from __future__ import annotations

from collections.abc import Mapping

from iap_engine.domain import EventKind, ExpirationReason

K = EventKind

KINDS: Mapping[tuple[str, str | None], EventKind] = {
    # Auto-renewable purchases; family members gaining access get the same notifications.
    ("SUBSCRIBED", "INITIAL_BUY"): K.PURCHASED,
    ("SUBSCRIBED", "RESUBSCRIBE"): K.PURCHASED,
    # Consumables, non-consumables and non-renewing subscriptions (incl. Family Sharing).
    ("ONE_TIME_CHARGE", None): K.PURCHASED,
    ("DID_RENEW", None): K.RENEWED,
    ("DID_RENEW", "BILLING_RECOVERY"): K.RECOVERED,
    ("DID_FAIL_TO_RENEW", None): K.RENEWAL_FAILED,
    ("DID_FAIL_TO_RENEW", "GRACE_PERIOD"): K.GRACE_PERIOD_STARTED,
    ("GRACE_PERIOD_EXPIRED", None): K.GRACE_PERIOD_EXPIRED,
    ("DID_CHANGE_RENEWAL_STATUS", "AUTO_RENEW_DISABLED"): K.AUTO_RENEW_DISABLED,
    ("DID_CHANGE_RENEWAL_STATUS", "AUTO_RENEW_ENABLED"): K.AUTO_RENEW_ENABLED,
    # Upgrades take effect at once (a new period); downgrades and their cancellation (no
    # subtype: back to the current product) change only what renews next.
    ("DID_CHANGE_RENEWAL_PREF", "UPGRADE"): K.PRODUCT_CHANGED,
    ("DID_CHANGE_RENEWAL_PREF", "DOWNGRADE"): K.RENEWAL_PRODUCT_CHANGED,
    ("DID_CHANGE_RENEWAL_PREF", None): K.RENEWAL_PRODUCT_CHANGED,
    # Offers: first purchase or resubscribe buys; an upgrade is immediate; a downgrade, or an
    # offer for the active subscription (no subtype), applies from the next renewal.
    ("OFFER_REDEEMED", "INITIAL_BUY"): K.PURCHASED,
    ("OFFER_REDEEMED", "RESUBSCRIBE"): K.PURCHASED,
    ("OFFER_REDEEMED", "UPGRADE"): K.PRODUCT_CHANGED,
    ("OFFER_REDEEMED", "DOWNGRADE"): K.RENEWAL_PRODUCT_CHANGED,
    ("OFFER_REDEEMED", None): K.RENEWAL_PRODUCT_CHANGED,
    ("EXPIRED", None): K.EXPIRED,
    ("EXPIRED", "VOLUNTARY"): K.EXPIRED,
    ("EXPIRED", "BILLING_RETRY"): K.EXPIRED,
    ("EXPIRED", "PRICE_INCREASE"): K.EXPIRED,
    ("EXPIRED", "PRODUCT_NOT_FOR_SALE"): K.EXPIRED,
    ("PRICE_INCREASE", "PENDING"): K.PRICE_INCREASE,
    ("PRICE_INCREASE", "ACCEPTED"): K.PRICE_INCREASE,
    ("REFUND", None): K.REFUNDED,
    ("REFUND_DECLINED", None): K.REFUND_DECLINED,
    ("REFUND_REVERSED", None): K.REFUND_REVERSED,
    # Family Sharing access lost (purchaser stopped sharing, left the family, was refunded).
    ("REVOKE", None): K.REVOKED,
    ("RENEWAL_EXTENDED", None): K.RENEWAL_EXTENDED,
    ("CONSUMPTION_REQUEST", None): K.CONSUMPTION_REQUESTED,
    ("TEST", None): K.TEST,
    # Informational: a mass extension's summary (no subscription), an extension that failed
    # for one subscriber (nothing changed), external purchase tokens, parental consent
    # withdrawn (Declared Age Range), and the Advanced Commerce API's metadata, migration and
    # price changes. Their snapshot, when they carry one, still applies if newer.
    ("RENEWAL_EXTENSION", "SUMMARY"): K.UNKNOWN,
    ("RENEWAL_EXTENSION", "FAILURE"): K.UNKNOWN,
    ("EXTERNAL_PURCHASE_TOKEN", "UNREPORTED"): K.UNKNOWN,
    ("EXTERNAL_PURCHASE_TOKEN", "CREATED"): K.UNKNOWN,
    ("EXTERNAL_PURCHASE_TOKEN", "ACTIVE_TOKEN_REMINDER"): K.UNKNOWN,
    ("RESCIND_CONSENT", None): K.UNKNOWN,
    ("METADATA_UPDATE", None): K.UNKNOWN,
    ("MIGRATION", None): K.UNKNOWN,
    ("PRICE_CHANGE", None): K.UNKNOWN,
}

# The EXPIRED subtype says why; it wins over the renewal info's expirationIntent.
EXPIRED_SUBTYPE_REASONS: Mapping[str, ExpirationReason] = {
    "VOLUNTARY": ExpirationReason.VOLUNTARY,
    "BILLING_RETRY": ExpirationReason.BILLING_ERROR,
    "PRICE_INCREASE": ExpirationReason.PRICE_INCREASE,
    "PRODUCT_NOT_FOR_SALE": ExpirationReason.PRODUCT_UNAVAILABLE,
}

# JWSRenewalInfo.expirationIntent.
EXPIRATION_INTENTS: Mapping[int, ExpirationReason] = {
    1: ExpirationReason.VOLUNTARY,
    2: ExpirationReason.BILLING_ERROR,
    3: ExpirationReason.PRICE_INCREASE,
    4: ExpirationReason.PRODUCT_UNAVAILABLE,
    5: ExpirationReason.UNKNOWN,
}


def kind_of(
    notification_type: str | None, subtype: str | None, auto_renew: bool | None
) -> EventKind:
    """The event kind of a notification; `auto_renew` settles a subtype-less status change.

    DID_CHANGE_RENEWAL_STATUS arrives without a subtype when the customer cancels after a
    price increase notice; the renewal info then says which way auto-renew went.
    """
    if notification_type is None:
        return K.UNKNOWN
    if notification_type == "DID_CHANGE_RENEWAL_STATUS" and subtype is None:
        if auto_renew is None:
            return K.UNKNOWN
        return K.AUTO_RENEW_ENABLED if auto_renew else K.AUTO_RENEW_DISABLED
    return KINDS.get((notification_type, subtype), K.UNKNOWN)
