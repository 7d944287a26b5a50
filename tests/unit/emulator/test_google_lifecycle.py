"""Google Play's lifecycle on the virtual clock: each transition, its RTDN, subscriptionsv2."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from store_emulator.emulator import StoreEmulator
from store_emulator.errors import PaymentDeclined
from store_emulator.google.lifecycle import PlayLifecycle
from store_emulator.message import Message
from tests.unit.emulator.conftest import BASIC, MONTHLY, START, YEARLY, rtdn

FEB = START.replace(month=2)
MAR = START.replace(month=3)


def google(emulator: StoreEmulator) -> PlayLifecycle:
    assert emulator.google is not None
    return emulator.google


def names(messages: list[Message]) -> list[str]:
    return [m.notification_type for m in messages]


def resource(emulator: StoreEmulator, token: str) -> dict[str, Any]:
    found = google(emulator).store.subscription_resource(token)
    assert found is not None
    return found


def expiry(emulator: StoreEmulator, token: str) -> str:
    return str(resource(emulator, token)["lineItems"][0]["expiryTime"])


def rfc3339(instant: Any) -> str:
    return str(instant.strftime("%Y-%m-%dT%H:%M:%S.000Z"))


def buy(emulator: StoreEmulator, product_id: str = MONTHLY, plan: str = "monthly") -> str:
    return google(emulator).purchase(product_id, plan, account_id="acct-1")


def test_a_purchase_publishes_purchased_with_the_token_and_event_time(emulator):
    token = buy(emulator)

    (message,) = emulator.messages
    notification = rtdn(message)
    assert message.notification_type == "SUBSCRIPTION_PURCHASED"
    assert notification["subscriptionNotification"] == {
        "version": "1.0",
        "notificationType": 4,
        "purchaseToken": token,
    }
    assert notification["eventTimeMillis"] == str(int(START.timestamp() * 1000))
    answer = resource(emulator, token)
    assert answer["subscriptionState"] == "SUBSCRIPTION_STATE_ACTIVE"
    assert answer["externalAccountIdentifiers"] == {"obfuscatedExternalAccountId": "acct-1"}


def test_renewals_add_dot_dot_orders_each_billing_period(emulator):
    token = buy(emulator)

    report = emulator.advance_to(MAR)

    assert names(report.emitted) == ["SUBSCRIPTION_RENEWED"] * 2
    assert [m.emitted_at for m in report.emitted] == [FEB, MAR]
    orders = google(emulator).store.subscriptions[token].orders
    assert [o.order_id.split("..")[1:] for o in orders] == [[], ["0"], ["1"]]
    assert expiry(emulator, token) == rfc3339(START.replace(month=4))
    item = resource(emulator, token)["lineItems"][0]
    assert item["latestSuccessfulOrderId"] == orders[-1].order_id


def test_canceled_then_expired_at_the_paid_end_or_restarted(emulator):
    token = buy(emulator)
    other = buy(emulator, YEARLY, "yearly")
    emulator.advance(timedelta(days=3))
    google(emulator).cancel(token)
    google(emulator).cancel(other)
    google(emulator).uncancel(other)

    report = emulator.advance_to(MAR)

    assert names(emulator.messages[2:5]) == [
        "SUBSCRIPTION_CANCELED",
        "SUBSCRIPTION_CANCELED",
        "SUBSCRIPTION_RESTARTED",
    ]
    assert [(m.notification_type, m.key, m.emitted_at) for m in report.emitted] == [
        ("SUBSCRIPTION_EXPIRED", token, FEB)
    ]
    assert resource(emulator, token)["subscriptionState"] == "SUBSCRIPTION_STATE_EXPIRED"
    assert resource(emulator, other)["lineItems"][0]["autoRenewingPlan"]["autoRenewEnabled"]


def test_a_declined_renewal_goes_to_grace_then_hold_then_expiry(emulator):
    token = buy(emulator)
    google(emulator).set_payment(token, failing=True)

    emulator.advance_to(FEB)
    assert resource(emulator, token)["subscriptionState"] == "SUBSCRIPTION_STATE_IN_GRACE_PERIOD"
    assert expiry(emulator, token) == rfc3339(FEB + timedelta(days=7))  # extended to grace end
    report = emulator.advance(timedelta(days=60))

    assert names(emulator.messages[1:]) == [
        "SUBSCRIPTION_IN_GRACE_PERIOD",
        "SUBSCRIPTION_ON_HOLD",
        "SUBSCRIPTION_EXPIRED",
    ]
    assert [m.emitted_at for m in report.emitted] == [
        FEB + timedelta(days=7),
        FEB + timedelta(days=37),
    ]


def test_recovery_from_hold_moves_the_billing_date(emulator):
    token = buy(emulator)
    google(emulator).set_payment(token, failing=True)
    emulator.advance_to(FEB + timedelta(days=10))
    assert resource(emulator, token)["subscriptionState"] == "SUBSCRIPTION_STATE_ON_HOLD"

    google(emulator).set_payment(token, failing=False)

    assert emulator.messages[-1].notification_type == "SUBSCRIPTION_RECOVERED"
    order = google(emulator).store.subscriptions[token].orders[-1]
    assert order.order_id.endswith("..0")
    assert order.starts_at == FEB + timedelta(days=10)
    assert expiry(emulator, token) == rfc3339(MAR + timedelta(days=10))


def test_recovery_in_grace_keeps_the_billing_date(emulator):
    token = buy(emulator)
    google(emulator).set_payment(token, failing=True)
    emulator.advance_to(FEB + timedelta(days=2))

    google(emulator).set_payment(token, failing=False)

    assert emulator.messages[-1].notification_type == "SUBSCRIPTION_RECOVERED"
    assert expiry(emulator, token) == rfc3339(MAR)


def test_an_upgrade_replaces_the_token_at_once(emulator):
    token = buy(emulator, BASIC)
    emulator.advance(timedelta(days=10))

    replacing = google(emulator).change_product(token, MONTHLY, "monthly")

    assert replacing != token
    assert [(m.notification_type, m.key) for m in emulator.messages[-1:]] == [
        ("SUBSCRIPTION_PURCHASED", replacing)
    ]
    new = resource(emulator, replacing)
    assert new["linkedPurchaseToken"] == token
    assert new["lineItems"][0]["itemReplacement"]["productId"] == BASIC
    assert new["startTime"] == rfc3339(START + timedelta(days=10))
    old = resource(emulator, token)
    assert old["subscriptionState"] == "SUBSCRIPTION_STATE_EXPIRED"
    assert "replacementCancellation" in old["canceledStateContext"]
    # Only the new token renews.
    assert [m.key for m in emulator.advance_to(MAR).emitted] == [replacing]


def test_an_upgrade_needs_a_working_payment_method(emulator):
    token = buy(emulator, BASIC)
    google(emulator).set_payment(token, failing=True)

    with pytest.raises(PaymentDeclined):
        google(emulator).change_product(token, MONTHLY, "monthly")


def test_a_downgrade_is_deferred_to_the_renewal(emulator):
    token = buy(emulator, YEARLY, "yearly")

    assert google(emulator).change_product(token, BASIC, "monthly") == token
    assert resource(emulator, token)["lineItems"][0]["deferredItemReplacement"] == {
        "productId": BASIC
    }
    report = emulator.advance_to(START.replace(year=2026))

    (purchased,) = report.emitted
    assert purchased.notification_type == "SUBSCRIPTION_PURCHASED"
    new = resource(emulator, purchased.key or "")
    assert new["linkedPurchaseToken"] == token
    assert new["lineItems"][0]["itemReplacement"]["replacementMode"] == "DEFERRED"
    assert new["lineItems"][0]["productId"] == BASIC
    assert new["startTime"] == rfc3339(START.replace(year=2026))


def test_a_pause_starts_at_the_period_end_and_resumes_with_a_new_order(emulator):
    token = buy(emulator)
    google(emulator).pause(token, "P1M")
    assert emulator.messages[-1].notification_type == "SUBSCRIPTION_PAUSE_SCHEDULE_CHANGED"

    emulator.advance_to(FEB)
    paused = resource(emulator, token)
    report = emulator.advance_to(MAR)

    assert paused["subscriptionState"] == "SUBSCRIPTION_STATE_PAUSED"
    assert paused["pausedStateContext"] == {"autoResumeTime": rfc3339(MAR)}
    assert names(emulator.messages[2:]) == ["SUBSCRIPTION_PAUSED", "SUBSCRIPTION_RECOVERED"]
    assert [m.emitted_at for m in report.emitted] == [MAR]
    assert google(emulator).store.subscriptions[token].orders[-1].starts_at == MAR
    assert expiry(emulator, token) == rfc3339(START.replace(month=4))


def test_a_paused_subscription_can_resume_early_and_a_scheduled_pause_be_called_off(emulator):
    token = buy(emulator)
    google(emulator).pause(token, "P1M")
    emulator.advance_to(FEB + timedelta(days=5))
    google(emulator).resume(token)
    other = buy(emulator)
    google(emulator).pause(other, "P2W")
    google(emulator).resume(other)

    assert names(emulator.messages[-4:]) == [
        "SUBSCRIPTION_RECOVERED",
        "SUBSCRIPTION_PURCHASED",
        "SUBSCRIPTION_PAUSE_SCHEDULE_CHANGED",
        "SUBSCRIPTION_PAUSE_SCHEDULE_CHANGED",
    ]
    assert google(emulator).store.subscriptions[token].orders[-1].starts_at == FEB + timedelta(
        days=5
    )
    assert "SUBSCRIPTION_PAUSED" not in names(emulator.advance(timedelta(days=40)).emitted)


@pytest.mark.parametrize("duration", ["P3D", "P4M", "nonsense"])
def test_a_pause_lasts_one_week_to_three_months(emulator, duration):
    token = buy(emulator)

    with pytest.raises(ValueError, match=r"pause lasts|duration"):
        google(emulator).pause(token, duration)


def test_a_refund_is_a_voided_purchase_and_a_voided_notification(emulator):
    token = buy(emulator)
    emulator.advance_to(FEB)
    first = google(emulator).store.subscriptions[token].orders[0].order_id

    assert google(emulator).refund(token, first) == first

    notification = rtdn(emulator.messages[-1])
    assert notification["voidedPurchaseNotification"] == {
        "purchaseToken": token,
        "orderId": first,
        "productType": 1,
        "refundType": 1,
    }
    (voided,) = google(emulator).store.voided_resources(START, FEB, include_subscriptions=True)
    assert voided["orderId"] == first
    assert resource(emulator, token)["subscriptionState"] == "SUBSCRIPTION_STATE_ACTIVE"
    with pytest.raises(ValueError, match="already refunded"):
        google(emulator).refund(token, first)


def test_a_revocation_ends_access_now_and_voids_the_latest_order(emulator):
    token = buy(emulator)
    emulator.advance(timedelta(days=3))

    order = google(emulator).revoke(token)

    assert names(emulator.messages[-2:]) == ["SUBSCRIPTION_REVOKED", "VOIDED_PURCHASE"]
    assert order == google(emulator).store.subscriptions[token].orders[-1].order_id
    assert resource(emulator, token)["subscriptionState"] == "SUBSCRIPTION_STATE_EXPIRED"
    assert expiry(emulator, token) == rfc3339(START + timedelta(days=3))
    assert emulator.advance_to(MAR).emitted == []


def test_an_opt_in_price_increase_not_accepted_cancels_at_the_renewal(emulator):
    token = buy(emulator)

    google(emulator).increase_price(token, 12_990_000)

    details = resource(emulator, token)["lineItems"][0]["autoRenewingPlan"]["priceChangeDetails"]
    assert details["priceChangeState"] == "OUTSTANDING"
    assert details["newPrice"] == {"currencyCode": "USD", "units": "12", "nanos": 990_000_000}
    report = emulator.advance_to(MAR)
    assert names(report.emitted) == ["SUBSCRIPTION_CANCELED", "SUBSCRIPTION_EXPIRED"]
    assert {m.emitted_at for m in report.emitted} == {FEB}


def test_an_accepted_price_increase_applies_at_the_renewal(emulator):
    token = buy(emulator)
    google(emulator).increase_price(token, 12_990_000)
    google(emulator).consent(token)
    assert names(emulator.messages[-2:]) == ["SUBSCRIPTION_PRICE_CHANGE_UPDATED"] * 2

    emulator.advance_to(FEB)

    plan = resource(emulator, token)["lineItems"][0]["autoRenewingPlan"]
    assert plan["recurringPrice"]["units"] == "12"
    assert plan["priceChangeDetails"]["priceChangeState"] == "APPLIED"


def test_a_developer_deferral_moves_the_next_charge(emulator):
    token = buy(emulator)

    google(emulator).defer(token, "P7D")

    assert emulator.messages[-1].notification_type == "SUBSCRIPTION_DEFERRED"
    assert expiry(emulator, token) == rfc3339(FEB + timedelta(days=7))
    assert [m.emitted_at for m in emulator.advance_to(MAR).emitted] == [FEB + timedelta(days=7)]


def test_one_time_products_are_bought_and_refunded(emulator):
    token = google(emulator).buy("com.example.lifetime", account_id="acct-1")

    assert rtdn(emulator.messages[-1])["oneTimeProductNotification"] == {
        "version": "1.0",
        "notificationType": 1,
        "purchaseToken": token,
        "sku": "com.example.lifetime",
    }
    google(emulator).refund(token)
    assert rtdn(emulator.messages[-1])["voidedPurchaseNotification"]["productType"] == 2
    product = google(emulator).store.product_resource("com.example.lifetime", token)
    assert product is not None and product["purchaseState"] == 1


def test_the_catalogue_gives_prices_levels_and_offers(emulator):
    trial = google(emulator).purchase(MONTHLY, "monthly", "trial")

    item = resource(emulator, trial)["lineItems"][0]
    assert item["offerPhase"] == {"freeTrial": {}}
    assert expiry(emulator, trial) == rfc3339(START + timedelta(weeks=1))
    yearly = google(emulator).store.catalog_resource(YEARLY)
    assert yearly is not None
    price = yearly["basePlans"][0]["regionalConfigs"][0]["price"]
    assert (price["units"], price["nanos"]) == ("99", 990_000_000)
