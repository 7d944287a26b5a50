"""The JSON shapes of DESIGN.md section 6 (contract), built from service results."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from iap_engine.domain import Grant, Store, Subscription, TimelineEntry
from iap_engine.service.accounts import AccountDeletion
from iap_engine.service.entitlements import UserEntitlements
from iap_engine.service.lookup import LookUp, SubscriptionView


def iso(value: datetime | None) -> str | None:
    """ISO 8601 UTC with Z; milliseconds only when the instant has them."""
    if value is None:
        return None
    value = value.astimezone(UTC)
    spec = "milliseconds" if value.microsecond else "seconds"
    return value.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def store_ids(subscription: Subscription, tokens: tuple[str, ...]) -> dict[str, Any]:
    if subscription.store is Store.APP_STORE:
        return {"original_transaction_id": subscription.store_key}
    chain = list(dict.fromkeys([subscription.store_key, *tokens]))
    return {"purchase_token": chain[-1], "purchase_tokens": chain}


def subscription_object(view: SubscriptionView) -> dict[str, Any]:
    subscription = view.subscription
    return {
        "subscription_id": subscription.id,
        "store": subscription.store.value,
        "environment": subscription.environment.value,
        "product_id": subscription.product_id,
        "status": subscription.effective_status.value,
        "auto_renew": subscription.auto_renew,
        "entitled": view.entitled,
        "expires_at": iso(subscription.expires_at),
        "grace_expires_at": iso(subscription.grace_expires_at),
        "app_user_id": subscription.app_user_id,
        "account_deleted": subscription.account_deleted,
        "store_ids": store_ids(subscription, view.tokens),
        # Extensions: what the store will renew into, and why it expired.
        "renewal_product_id": subscription.renewal_product_id,
        "expiration_reason": (
            subscription.expiration_reason.value if subscription.expiration_reason else None
        ),
        "periods": [_period(subscription, p) for p in subscription.periods],
        "events": [_event(e) for e in in_store_order(view.timeline)],
    }


def _period(subscription: Subscription, period: Any) -> dict[str, Any]:
    revocation = subscription.revocation_of(period.transaction_id)
    return {
        "transaction_id": period.transaction_id,
        "product_id": period.product_id,
        "starts_at": iso(period.starts_at),
        "ends_at": iso(period.ends_at),
        "offer": period.offer.value,
        "price_micros": period.price_micros,
        "currency": period.currency,
        "revoked_at": iso(revocation.revoked_at) if revocation else None,
        # Extensions.
        "revocation_reason": (
            revocation.reason.value if revocation and revocation.reason else None
        ),
        "replaced_at": iso(subscription.replaced_at(period)),
        "grace_ends_at": iso(period.grace_ends_at),
    }


def in_store_order(timeline: tuple[TimelineEntry, ...]) -> list[TimelineEntry]:
    # Engine actions have no store time: they sort by when they happened.
    return sorted(timeline, key=lambda e: (e.store_time or e.received_at, e.received_at))


def _event(entry: TimelineEntry) -> dict[str, Any]:
    return {
        "kind": entry.kind,
        "store_time": iso(entry.store_time),
        "received_at": iso(entry.received_at),
        "source": entry.source.value,
        "store_type": entry.store_type,
        "store_subtype": entry.store_subtype,
        # Extensions: how the engine judged it, and why.
        "outcome": entry.outcome,
        "note": entry.note,
    }


def _grant(grant: Grant) -> dict[str, Any]:
    return {
        "entitlement": grant.entitlement,
        "active": grant.active,
        "expires_at": iso(grant.expires_at),
        "product_id": grant.product_id,
        "store": grant.store.value,
        "subscription_id": grant.subscription_id,
        "status": grant.status.value,
        "auto_renew": grant.auto_renew,
    }


def entitlements(result: UserEntitlements) -> dict[str, Any]:
    return {
        "app_user_id": result.app_user_id,
        "at": iso(result.at),
        "entitlements": [_grant(g) for g in result.grants],
    }


def deletion(result: AccountDeletion) -> dict[str, Any]:
    return {
        "deleted": True,
        "still_renewing": [
            {
                "subscription_id": r.subscription_id,
                "store": r.store.value,
                "product_id": r.product_id,
                "expires_at": iso(r.expires_at),
                "manage_url": r.manage_url,
            }
            for r in result.still_renewing
        ],
    }


def look_up(result: LookUp) -> dict[str, Any]:
    return {"query": result.query, "subscriptions": [subscription_object(v) for v in result.views]}
