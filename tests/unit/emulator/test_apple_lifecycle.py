"""The App Store's lifecycle on the virtual clock: each transition, its notification, the state."""

from __future__ import annotations

from datetime import timedelta

import pytest

from store_emulator.apple.lifecycle import AppleLifecycle
from store_emulator.apple.store import ACTIVE, BILLING_RETRY, EXPIRED, GRACE_PERIOD, REVOKED
from store_emulator.emulator import AppleOptions, StoreEmulator
from store_emulator.errors import PaymentDeclined
from tests.unit.emulator.conftest import (
    BASIC,
    MONTHLY,
    START,
    YEARLY,
    Make,
    apple_payload,
    kinds,
    millis,
)

FEB = START.replace(month=2)
MAR = START.replace(month=3)
APR = START.replace(month=4)


def apple(emulator: StoreEmulator) -> AppleLifecycle:
    assert emulator.apple is not None
    return emulator.apple


def subscribe(emulator: StoreEmulator, product_id: str = MONTHLY, **kwargs: object) -> str:
    sent = apple(emulator).subscribe(product_id, customer="c-1", **kwargs)  # type: ignore[arg-type]
    assert sent.original_transaction_id is not None
    return sent.original_transaction_id


def test_a_subscription_renews_each_calendar_month_with_a_new_transaction(emulator):
    key = subscribe(emulator, app_account_token="11111111-2222-4333-8444-555555555555")

    report = emulator.advance_to(APR)

    assert kinds(report.emitted) == [("DID_RENEW", None)] * 3
    assert [m.emitted_at for m in report.emitted] == [FEB, MAR, APR]
    renewals = [apple_payload(m)["data"]["signedTransactionInfo"] for m in report.emitted]
    assert len({t["transactionId"] for t in renewals} | {key}) == 4
    assert [t["purchaseDate"] for t in renewals] == [millis(FEB), millis(MAR), millis(APR)]
    assert renewals[-1]["expiresDate"] == millis(START.replace(month=5))
    assert {t["originalTransactionId"] for t in renewals} == {key}
    assert {t["transactionReason"] for t in renewals} == {"RENEWAL"}
    assert {t["appAccountToken"] for t in renewals} == {"11111111-2222-4333-8444-555555555555"}
    assert apple(emulator).store.subscription(key).status == ACTIVE


def test_auto_renew_off_expires_voluntarily_at_the_period_end(emulator):
    key = subscribe(emulator)
    emulator.advance(timedelta(days=3))
    off = apple(emulator).cancel(key)
    assert (off.notification_type, off.subtype) == (
        "DID_CHANGE_RENEWAL_STATUS",
        "AUTO_RENEW_DISABLED",
    )

    report = emulator.advance_to(APR)

    assert kinds(report.emitted) == [("EXPIRED", "VOLUNTARY")]
    assert report.emitted[0].emitted_at == FEB
    payload = apple_payload(report.emitted[0])
    assert payload["data"]["status"] == EXPIRED
    assert payload["data"]["signedRenewalInfo"]["autoRenewStatus"] == 0
    assert payload["data"]["signedRenewalInfo"]["expirationIntent"] == 1
    assert emulator.state()["apple"]["subscriptions"][0]["next_event_at"] is None


def test_uncancel_keeps_it_renewing(emulator):
    key = subscribe(emulator)
    apple(emulator).cancel(key)
    on = apple(emulator).uncancel(key)

    assert (on.notification_type, on.subtype) == ("DID_CHANGE_RENEWAL_STATUS", "AUTO_RENEW_ENABLED")
    assert kinds(emulator.advance_to(FEB).emitted) == [("DID_RENEW", None)]
    with pytest.raises(ValueError, match="already on"):
        apple(emulator).uncancel(key)


def test_a_failing_payment_goes_through_grace_and_billing_retry_to_expiry(emulator):
    key = subscribe(emulator)
    assert apple(emulator).set_payment(key, failing=True) is None  # noticed at the renewal

    report = emulator.advance(timedelta(days=100))

    assert kinds(report.emitted) == [
        ("DID_FAIL_TO_RENEW", "GRACE_PERIOD"),
        ("GRACE_PERIOD_EXPIRED", None),
        ("EXPIRED", "BILLING_RETRY"),
    ]
    failed, grace_over, expired = report.emitted
    assert [failed.emitted_at, grace_over.emitted_at, expired.emitted_at] == [
        FEB,
        FEB + timedelta(days=16),
        FEB + timedelta(days=60),
    ]
    renewal = apple_payload(failed)["data"]["signedRenewalInfo"]
    assert renewal["isInBillingRetryPeriod"] is True
    assert renewal["gracePeriodExpiresDate"] == millis(FEB + timedelta(days=16))
    assert renewal["expirationIntent"] == 2
    assert apple_payload(failed)["data"]["status"] == GRACE_PERIOD
    assert apple_payload(grace_over)["data"]["status"] == BILLING_RETRY
    assert apple_payload(expired)["data"]["status"] == EXPIRED


def test_without_grace_the_failure_starts_billing_retry_at_once(make: Make):
    emulator = make(apple=AppleOptions(grace_period_days=None))
    key = subscribe(emulator)
    apple(emulator).set_payment(key, failing=True)

    report = emulator.advance_to(FEB + timedelta(days=1))

    assert kinds(report.emitted) == [("DID_FAIL_TO_RENEW", None)]
    assert apple(emulator).store.subscription(key).status == BILLING_RETRY


def test_fixing_the_payment_in_billing_retry_recovers_with_a_new_period_from_now(emulator):
    key = subscribe(emulator)
    apple(emulator).set_payment(key, failing=True)
    emulator.advance_to(FEB + timedelta(days=20))  # past the 16-day grace period

    recovered = apple(emulator).set_payment(key, failing=False)

    assert recovered is not None
    assert (recovered.notification_type, recovered.subtype) == ("DID_RENEW", "BILLING_RECOVERY")
    recovered_at = FEB + timedelta(days=20)  # March 7th
    transaction = apple_payload(emulator.messages[-1])["data"]["signedTransactionInfo"]
    assert transaction["purchaseDate"] == millis(recovered_at)
    assert transaction["expiresDate"] == millis(recovered_at.replace(month=4))
    assert kinds(emulator.advance_to(recovered_at.replace(month=4)).emitted) == [
        ("DID_RENEW", None)
    ]


def test_fixing_the_payment_in_grace_keeps_the_renewal_date(emulator):
    key = subscribe(emulator)
    apple(emulator).set_payment(key, failing=True)
    emulator.advance_to(FEB + timedelta(days=2))

    apple(emulator).set_payment(key, failing=False)

    transaction = apple_payload(emulator.messages[-1])["data"]["signedTransactionInfo"]
    assert transaction["purchaseDate"] == millis(FEB)
    assert transaction["expiresDate"] == millis(MAR)


def test_an_upgrade_is_immediate_and_marks_the_old_transaction_upgraded(emulator):
    key = subscribe(emulator, BASIC)
    first = apple(emulator).store.subscription(key).latest.transaction_id
    emulator.advance(timedelta(days=10))

    upgrade = apple(emulator).change_product(key, MONTHLY)

    assert (upgrade.notification_type, upgrade.subtype) == ("DID_CHANGE_RENEWAL_PREF", "UPGRADE")
    transaction = apple_payload(emulator.messages[-1])["data"]["signedTransactionInfo"]
    assert transaction["productId"] == MONTHLY
    assert transaction["purchaseDate"] == millis(START + timedelta(days=10))
    assert transaction["transactionId"] != first
    old = apple(emulator).store.transaction(first)
    assert old.is_upgraded
    assert old.revocation_date == START + timedelta(days=10)
    # The next renewal is a month after the upgrade, on the new product.
    report = emulator.advance_to(FEB + timedelta(days=10))
    assert kinds(report.emitted) == [("DID_RENEW", None)]
    assert apple_payload(report.emitted[0])["data"]["signedTransactionInfo"]["productId"] == MONTHLY


def test_an_upgrade_is_declined_when_the_payment_fails(emulator):
    key = subscribe(emulator, BASIC)
    apple(emulator).set_payment(key, failing=True)

    with pytest.raises(PaymentDeclined):
        apple(emulator).change_product(key, MONTHLY)


def test_downgrades_and_crossgrades_wait_for_the_renewal(emulator):
    key = subscribe(emulator, YEARLY)

    downgrade = apple(emulator).change_product(key, BASIC)

    assert (downgrade.notification_type, downgrade.subtype) == (
        "DID_CHANGE_RENEWAL_PREF",
        "DOWNGRADE",
    )
    renewal = apple_payload(emulator.messages[-1])["data"]["signedRenewalInfo"]
    assert (renewal["productId"], renewal["autoRenewProductId"]) == (YEARLY, BASIC)
    assert renewal["renewalPrice"] == 4990
    report = emulator.advance_to(START.replace(year=2026))
    assert kinds(report.emitted) == [("DID_RENEW", None)]
    transaction = apple_payload(report.emitted[0])["data"]["signedTransactionInfo"]
    assert (transaction["productId"], transaction["price"]) == (BASIC, 4990)
    assert transaction["expiresDate"] == millis(START.replace(year=2026, month=2))


def test_refunding_the_current_period_revokes_the_subscription(emulator):
    key = subscribe(emulator)
    emulator.advance(timedelta(days=5))

    refund = apple(emulator).refund_current(key, reason=1)

    payload = apple_payload(emulator.messages[-1])
    assert refund.notification_type == "REFUND"
    assert payload["data"]["status"] == REVOKED
    transaction = payload["data"]["signedTransactionInfo"]
    assert transaction["revocationDate"] == millis(START + timedelta(days=5))
    assert transaction["revocationReason"] == 1
    assert emulator.advance_to(APR).emitted == []  # nothing renews a revoked subscription
    with pytest.raises(ValueError, match="already refunded"):
        apple(emulator).refund_current(key)


def test_refunding_a_past_period_leaves_the_subscription_active_and_can_be_reversed(emulator):
    key = subscribe(emulator)
    first = apple(emulator).store.subscription(key).latest.transaction_id
    emulator.advance_to(FEB + timedelta(days=1))

    apple(emulator).refund(first)
    assert apple(emulator).store.subscription(key).status == ACTIVE
    reversed_ = apple(emulator).reverse_refund(first)

    assert reversed_.notification_type == "REFUND_REVERSED"
    assert apple(emulator).store.transaction(first).revocation_date is None
    with pytest.raises(ValueError, match="not refunded"):
        apple(emulator).reverse_refund(first)


def test_a_family_member_gets_renewals_and_loses_access_when_sharing_stops(emulator):
    key = subscribe(emulator)
    shared = apple(emulator).share(key, "family-1")
    member = shared.original_transaction_id
    assert member is not None and member != key
    transaction = apple_payload(emulator.messages[-1])["data"]["signedTransactionInfo"]
    assert (transaction["inAppOwnershipType"], transaction["expiresDate"]) == (
        "FAMILY_SHARED",
        millis(FEB),
    )

    renewed = emulator.advance_to(FEB).emitted

    assert [(m.notification_type, m.key) for m in renewed] == [
        ("DID_RENEW", key),
        ("DID_RENEW", member),
    ]
    (revoke,) = apple(emulator).stop_sharing(key)
    assert revoke.notification_type == "REVOKE"
    member_transaction = apple_payload(emulator.messages[-1])["data"]["signedTransactionInfo"]
    assert member_transaction["revocationDate"] == millis(FEB)
    assert [m.key for m in emulator.advance_to(MAR).emitted] == [key]


def test_refunding_the_purchaser_revokes_family_access(emulator):
    key = subscribe(emulator)
    member = apple(emulator).share(key, "family-1").original_transaction_id

    apple(emulator).refund_current(key)

    assert [(m.notification_type, m.key) for m in emulator.messages[-2:]] == [
        ("REFUND", key),
        ("REVOKE", member),
    ]
    with pytest.raises(ValueError, match="family member"):
        apple(emulator).refund_current(member or "")


def test_an_unanswered_price_increase_expires_the_subscription_at_renewal(emulator):
    key = subscribe(emulator)

    pending = apple(emulator).increase_price(key, 12990)

    assert (pending.notification_type, pending.subtype) == ("PRICE_INCREASE", "PENDING")
    renewal = apple_payload(emulator.messages[-1])["data"]["signedRenewalInfo"]
    assert (renewal["priceIncreaseStatus"], renewal["renewalPrice"]) == (0, 12990)
    report = emulator.advance_to(MAR)
    assert kinds(report.emitted) == [("EXPIRED", "PRICE_INCREASE")]
    assert apple_payload(report.emitted[0])["data"]["signedRenewalInfo"]["expirationIntent"] == 3


def test_a_consented_price_increase_renews_at_the_new_price(emulator):
    key = subscribe(emulator)
    apple(emulator).increase_price(key, 12990)

    accepted = apple(emulator).consent(key)

    assert (accepted.notification_type, accepted.subtype) == ("PRICE_INCREASE", "ACCEPTED")
    report = emulator.advance_to(MAR)
    prices = [apple_payload(m)["data"]["signedTransactionInfo"]["price"] for m in report.emitted]
    assert prices == [12990, 12990]


def test_a_free_trial_then_intro_price_periods_then_the_full_price(emulator):
    trial_key = subscribe(emulator, offer="trial")
    trial = apple_payload(emulator.messages[-1])["data"]["signedTransactionInfo"]
    assert (trial["offerType"], trial["offerDiscountType"], trial["price"]) == (1, "FREE_TRIAL", 0)
    assert trial["expiresDate"] == millis(START + timedelta(weeks=1))
    apple(emulator).subscribe(MONTHLY, customer="c-2", offer="intro")

    report = emulator.advance_to(START.replace(month=5))

    prices = [
        (m.key == trial_key, apple_payload(m)["data"]["signedTransactionInfo"]["price"])
        for m in report.emitted
    ]
    assert [p for trial_one, p in prices if trial_one] == [9990] * 4
    # Bought at the intro price, two more intro periods, then the full price.
    assert [p for trial_one, p in prices if not trial_one] == [4990, 4990, 9990, 9990]


def test_offers_are_for_new_subscribers_and_a_return_is_a_resubscribe(emulator):
    key = subscribe(emulator)
    apple(emulator).cancel(key)
    emulator.advance_to(MAR)

    with pytest.raises(ValueError, match="new subscribers"):
        apple(emulator).subscribe(MONTHLY, customer="c-1", offer="trial")
    back = apple(emulator).subscribe(YEARLY, customer="c-1")

    assert (back.notification_type, back.subtype) == ("SUBSCRIBED", "RESUBSCRIBE")
    assert back.original_transaction_id == key


def test_notifications_of_several_subscriptions_come_in_store_time_order(emulator):
    subscribe(emulator)
    emulator.advance(timedelta(days=10))
    apple(emulator).subscribe(BASIC, customer="c-2")

    report = emulator.advance_to(MAR)

    times = [m.emitted_at for m in report.emitted]
    assert times == sorted(times)
    assert times == [FEB, FEB + timedelta(days=10), MAR]


def test_the_grace_period_is_one_of_apples_lengths(make: Make):
    with pytest.raises(ValueError, match="3, 16 or 28"):
        make(apple=AppleOptions(grace_period_days=10))


def test_the_state_dump_shows_what_the_customer_did(emulator):
    key = subscribe(emulator, YEARLY)
    apple(emulator).change_product(key, BASIC)
    apple(emulator).set_payment(key, failing=True)

    (described,) = emulator.state()["apple"]["subscriptions"]

    assert described["original_transaction_id"] == key
    assert described["pending_product_id"] == BASIC
    assert described["payment"] == "failing"
    assert described["status"] == "active"
    assert described["next_event_at"] == "2026-01-15T12:00:00Z"
