"""Normalization of Google's JSON, with hand-written resources shaped as in Google's docs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from iap_engine.domain import (
    Applied,
    Environment,
    EventKind,
    ExpirationReason,
    Ignored,
    OfferKind,
    ProductType,
    RevocationReason,
    Status,
    Store,
    Subscription,
    apply,
    is_entitled,
)
from iap_engine.domain.entitlement import Catalog, Product
from store_adapters.google.durations import Duration
from store_adapters.google.normalize import (
    SUBSCRIPTION_EVENT_KINDS,
    PlanKey,
    PlanTerms,
    normalize_product,
    normalize_subscription,
    normalize_voided,
    plan_key,
    plan_terms,
    revocation_reason,
    subscription_kind,
)
from store_adapters.google.notification import SUBSCRIPTION_TYPES, SubscriptionNotification

T0 = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
MONTHLY = PlanTerms(billing_period=Duration.parse("P1M"), grace_period=Duration.parse("P7D"))


def rfc(instant: datetime) -> str:
    return instant.isoformat().replace("+00:00", "Z")


def resource(
    state: str = "SUBSCRIPTION_STATE_ACTIVE",
    *,
    expiry: datetime = T0 + timedelta(days=31),
    order: str = "GPA.1111-2222-3333-44444",
    start: datetime = T0,
    phase: str = "basePrice",
    **extra: Any,
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "productId": "premium",
        "expiryTime": rfc(expiry),
        "autoRenewingPlan": {"autoRenewEnabled": state == "SUBSCRIPTION_STATE_ACTIVE"},
        "offerDetails": {"basePlanId": "monthly"},
        "offerPhase": {phase: {}},
        "latestSuccessfulOrderId": order,
    }
    item.update(extra.pop("item", {}))
    return {
        "kind": "androidpublisher#subscriptionPurchaseV2",
        "startTime": rfc(start),
        "regionCode": "US",
        "subscriptionState": state,
        "acknowledgementState": "ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED",
        "lineItems": [item],
        **extra,
    }


def normalize(purchase: dict[str, Any], code: int | None = None, **kwargs: Any):
    notification = SubscriptionNotification(code, "tok-1") if code is not None else None
    kwargs.setdefault("fetched_at", T0 + timedelta(days=1))
    kwargs.setdefault("terms", MONTHLY)
    return normalize_subscription(purchase, token="tok-1", notification=notification, **kwargs)


def test_every_documented_notification_type_has_a_kind():
    assert set(SUBSCRIPTION_EVENT_KINDS) == set(SUBSCRIPTION_TYPES)
    assert subscription_kind(None) is EventKind.REFRESHED
    assert subscription_kind(14) is EventKind.UNKNOWN


def test_a_plain_monthly_term_starts_one_month_before_its_end():
    event = normalize(
        resource(
            expiry=datetime(2026, 5, 1, 9, 30, tzinfo=UTC), order="GPA.1111-2222-3333-44444..0"
        )
    ).record.event

    (period,) = event.periods
    assert period.starts_at == datetime(2026, 4, 1, 9, 30, tzinfo=UTC)
    assert event.kind is EventKind.REFRESHED and event.store_type is None


def test_a_first_term_never_starts_before_the_subscription():
    # Started Jan 31: Google renews on Feb 28; Feb 28 - P1M is Jan 28, clamped to Jan 31.
    start = datetime(2026, 1, 31, 9, 30, tzinfo=UTC)
    (period,) = normalize(
        resource(start=start, expiry=datetime(2026, 2, 28, 9, 30, tzinfo=UTC)),
        fetched_at=start,
    ).record.event.periods

    assert period.starts_at == start


def test_without_catalogue_terms_a_first_term_starts_at_the_start_time():
    (period,) = normalize(resource(), terms=PlanTerms()).record.event.periods

    assert period.starts_at == T0


def test_grace_without_a_known_grace_duration_keeps_access_to_the_grace_end():
    grace_end = T0 + timedelta(days=38)
    event = normalize(
        resource("SUBSCRIPTION_STATE_IN_GRACE_PERIOD", expiry=grace_end),
        terms=PlanTerms(billing_period=Duration.parse("P1M")),
        fetched_at=T0 + timedelta(days=33),
    ).record.event

    assert event.state is not None
    assert event.state.expires_at == grace_end == event.state.grace_expires_at


def test_signup_promotion_marks_an_offer_code():
    purchase = resource(phase="freeTrial", item={"signupPromotion": {"vanityCode": {}}})

    (period,) = normalize(
        purchase, terms=PlanTerms(trial=Duration.parse("P7D"))
    ).record.event.periods

    assert period.offer is OfferKind.OFFER_CODE


def test_the_auto_renewing_item_is_the_subscription_among_several():
    purchase = resource()
    addon = dict(purchase["lineItems"][0], productId="addon", autoRenewingPlan=None)
    addon.pop("autoRenewingPlan")
    addon["prepaidPlan"] = {}
    purchase["lineItems"].insert(0, addon)

    record = normalize(purchase).record

    assert record.event.state is not None and record.event.state.product_id == "premium"
    assert plan_key(purchase) == PlanKey("premium", "monthly", None)


def test_prepaid_plan_is_non_renewing():
    purchase = resource()
    item = purchase["lineItems"][0]
    item.pop("autoRenewingPlan")
    item["prepaidPlan"] = {"allowExtendAfterTime": rfc(T0)}

    record = normalize(purchase).record

    assert record.product_type is ProductType.NON_RENEWING
    assert record.event.state is not None and record.event.state.auto_renew is False


def test_deferred_replacement_is_the_renewal_product_and_does_not_replace_prior():
    purchase = resource(
        linkedPurchaseToken="old-token",
        item={
            "deferredItemReplacement": {"productId": "basic"},
            "itemReplacement": {
                "productId": "premium_plus",
                "basePlanId": "monthly",
                "replacementMode": "DEFERRED",
            },
        },
    )

    event = normalize(purchase, 4).record.event

    assert event.state is not None and event.state.renewal_product_id == "basic"
    assert not event.periods[0].replaces_prior
    assert event.kind is EventKind.PURCHASED


def test_a_renewal_of_a_linked_token_does_not_replace_prior():
    purchase = resource(linkedPurchaseToken="old", order="GPA.1111-2222-3333-44444..3")

    assert not normalize(purchase, 2).record.event.periods[0].replaces_prior


def test_an_unspecified_state_is_recorded_without_state():
    event = normalize(resource("SUBSCRIPTION_STATE_UNSPECIFIED"), 2).record.event

    assert event.state is None and event.kind is EventKind.RENEWED


@pytest.mark.parametrize(
    ("context", "reason"),
    [
        ("userInitiatedCancellation", ExpirationReason.VOLUNTARY),
        ("systemInitiatedCancellation", ExpirationReason.BILLING_ERROR),
        ("developerInitiatedCancellation", ExpirationReason.DEVELOPER),
    ],
)
def test_cancellation_contexts(context, reason):
    purchase = resource("SUBSCRIPTION_STATE_CANCELED", canceledStateContext={context: {}})

    state = normalize(purchase, 3).record.event.state

    assert state is not None and state.expiration_reason is reason


def test_revoked_by_chargeback_is_a_refund_of_the_latest_order():
    purchase = resource("SUBSCRIPTION_STATE_EXPIRED", expiry=T0 + timedelta(days=2))
    event_time = T0 + timedelta(days=2)

    event = normalize(purchase, 12, event_time=event_time).record.event

    (revocation,) = event.revocations
    assert revocation.reason is RevocationReason.REFUNDED
    assert revocation.revoked_at == event_time == revocation.as_of


def test_test_purchase_and_account_hint():
    purchase = resource(
        testPurchase={},
        externalAccountIdentifiers={
            "obfuscatedExternalAccountId": "u-9",
            "obfuscatedExternalProfileId": "p-1",
        },
        acknowledgementState="ACKNOWLEDGEMENT_STATE_PENDING",
    )

    played = normalize(purchase, 4)

    assert played.record.environment is Environment.SANDBOX
    assert played.record.account_hint == "u-9"
    assert played.record.store is Store.PLAY_STORE
    assert played.acknowledgement is not None


def test_plan_terms_from_the_monetization_api():
    product = {
        "basePlans": [
            {"basePlanId": "yearly", "autoRenewingBasePlanType": {"billingPeriodDuration": "P1Y"}},
            {
                "basePlanId": "monthly",
                "autoRenewingBasePlanType": {
                    "billingPeriodDuration": "P1M",
                    "gracePeriodDuration": "P3D",
                },
            },
        ]
    }
    offer = {
        "phases": [
            {"duration": "P1W", "recurrenceCount": 1, "regionalConfigs": [{"free": {}}]},
            {
                "duration": "P1M",
                "recurrenceCount": 3,
                "regionalConfigs": [{"relativeDiscount": 0.5}],
            },
        ]
    }

    terms = plan_terms(product, "monthly", offer)

    assert terms.billing_period == Duration(months=1)
    assert terms.grace_period == Duration(fixed=timedelta(days=3))
    assert terms.trial == Duration(fixed=timedelta(weeks=1))
    assert terms.intro == Duration(months=1)
    assert plan_terms(None, "monthly") == PlanTerms()


def test_one_time_product_purchase():
    purchase = {
        "purchaseTimeMillis": str(int(T0.timestamp() * 1000)),
        "purchaseState": 0,
        "orderId": "GPA.9999-8888-7777-66666",
        "acknowledgementState": 0,
        "obfuscatedExternalAccountId": "u-1",
    }

    played = normalize_product(purchase, token="t", product_id="lifetime", fetched_at=T0)

    event = played.record.event
    assert event.kind is EventKind.REFRESHED
    assert event.state is not None and event.state.status is Status.ACTIVE
    assert event.periods[0].ends_at is None and event.periods[0].starts_at == T0
    assert played.acknowledgement is not None and played.acknowledgement.kind == "product"


@pytest.mark.parametrize(
    ("reason", "source", "expected"),
    [
        (7, 2, RevocationReason.CHARGEBACK),
        (6, 0, RevocationReason.CHARGEBACK),
        (0, 1, RevocationReason.DEVELOPER),
        (3, 0, RevocationReason.REFUNDED_APP_ISSUE),
        (1, 0, RevocationReason.REFUNDED),
        (None, None, RevocationReason.REFUNDED),
    ],
)
def test_voided_reasons(reason, source, expected):
    assert revocation_reason(reason, source) is expected


def test_voided_purchase_entry():
    voided_at = T0 + timedelta(days=4)
    played = normalize_voided(
        {
            "purchaseToken": "tok",
            "orderId": "GPA.1..2",
            "voidedTimeMillis": str(int(voided_at.timestamp() * 1000)),
            "voidedReason": 7,
            "voidedSource": 2,
        }
    )

    assert played is not None
    (revocation,) = played.record.event.revocations
    assert (revocation.transaction_id, revocation.revoked_at) == ("GPA.1..2", voided_at)
    assert revocation.reason is RevocationReason.CHARGEBACK
    assert played.record.event.store_subtype == "Chargeback/Google"
    assert normalize_voided({"orderId": "x"}) is None
    unacknowledged = normalize_voided(
        {"purchaseToken": "tok", "voidedTimeMillis": "1", "voidedReason": 8, "voidedSource": 2}
    )
    assert unacknowledged is not None
    assert unacknowledged.record.event.store_subtype == "Unacknowledged_purchase/Google"


def test_an_upgrade_stays_one_subscription_with_the_old_term_cut_at_the_replacement():
    """Domain level: the old token's records, then the new token's (linkedPurchaseToken),
    applied to one Subscription."""
    old_end = T0 + timedelta(days=31)
    old = normalize(resource(expiry=old_end), 4, fetched_at=T0)
    changed_at = T0 + timedelta(days=10)
    new_purchase = resource(
        start=changed_at,
        expiry=changed_at + timedelta(days=31),
        order="GPA.5555-6666-7777-88888",
        linkedPurchaseToken="tok-1",
        item={
            "productId": "premium_plus",
            "itemReplacement": {
                "productId": "premium",
                "basePlanId": "monthly",
                "replacementMode": "CHARGE_FULL_PRICE",
            },
        },
    )
    new = normalize_subscription(
        new_purchase,
        token="tok-2",
        fetched_at=changed_at,
        terms=PlanTerms(billing_period=Duration.parse("P31D")),
        notification=SubscriptionNotification(4, "tok-2"),
    )
    # The old token, fetched after the change, reports the replacement but no state.
    old_after = normalize(
        resource(
            "SUBSCRIPTION_STATE_EXPIRED",
            expiry=changed_at,
            canceledStateContext={"replacementCancellation": {}},
        ),
        13,
        fetched_at=changed_at + timedelta(minutes=5),
    )
    assert new.record.linked_key == old.record.store_key
    assert new.record.event.kind is EventKind.PRODUCT_CHANGED

    subscription = Subscription(
        id="s-1",
        store=Store.PLAY_STORE,
        environment=Environment.PRODUCTION,
        store_key="tok-1",
        product_id="premium",
    )
    outcomes = []
    for played in (old, new, old_after):
        outcome = apply(subscription, played.record.event)
        outcomes.append(type(outcome))
        subscription = outcome.subscription
    # The replaced token's late report changes nothing: the chain's state is the new token's.
    assert outcomes == [Applied, Applied, Ignored]

    old_period = subscription.period(old.record.event.periods[0].transaction_id)
    new_period = subscription.period("GPA.5555-6666-7777-88888")
    assert old_period is not None and new_period is not None
    assert old_period.ends_at == old_end
    assert subscription.replaced_at(old_period) == changed_at
    assert new_period.starts_at == changed_at and new_period.product_id == "premium_plus"
    assert subscription.status is Status.ACTIVE and subscription.product_id == "premium_plus"
    catalog = Catalog(
        [
            Product("premium", ProductType.AUTO_RENEWABLE, ("pro",)),
            Product("premium_plus", ProductType.AUTO_RENEWABLE, ("pro",)),
        ]
    )
    assert is_entitled(subscription, changed_at + timedelta(days=25), catalog)
    assert subscription.access_span(old_period) == (T0, changed_at)
