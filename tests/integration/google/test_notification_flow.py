"""From a Pub/Sub push to the domain snapshot, through the emulator over HTTP.

Every subscriptionState and every RTDN type: the emulator moves a purchase through its
lifecycle and publishes the notification; the push is authenticated and decoded, the truth
is fetched with subscriptionsv2.get (or products.get) and normalized.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from iap_engine.domain import (
    Environment,
    EventKind,
    ExpirationReason,
    OfferKind,
    ProductType,
    RevocationReason,
    Status,
)
from store_adapters.google.gateway import PlayGateway
from store_adapters.google.normalize import PlayRecord
from store_adapters.google.push import PushReceiver
from store_emulator.google.push import PushPublisher
from tests.integration.google.conftest import START

MONTH_LATER = START.replace(month=2)


@pytest.fixture
def deliver(receiver: PushReceiver, gateway: PlayGateway, publisher: PushPublisher):
    def run(notification: dict[str, Any]) -> tuple[PlayRecord, ...]:
        request = publisher.request(notification)
        push = receiver.receive(request.authorization, request.body)
        return gateway.records_for(push.notification)

    return run


@pytest.fixture
def sub(publisher: PushPublisher, deliver):
    """Deliver a SubscriptionNotification of `code` for `token`; the one record it yields."""

    def run(token: str, code: int) -> PlayRecord:
        (played,) = deliver(publisher.subscription_notification(token, code))
        return played

    return run


def test_purchased_is_active_with_a_first_period_and_asks_for_acknowledgement(play, sub):
    token = play.store.purchase("premium", "monthly", account_id="acct-7")

    played = sub(token, 4)

    record, event = played.record, played.record.event
    assert event.kind is EventKind.PURCHASED
    assert event.store_type == "SUBSCRIPTION_PURCHASED"
    assert event.store_time == START
    assert played.event_time == START
    assert record.store_key == token and record.linked_key is None
    assert record.product_type is ProductType.AUTO_RENEWABLE
    assert record.environment is Environment.PRODUCTION
    assert record.account_hint == "acct-7"
    assert event.state is not None
    assert event.state.status is Status.ACTIVE and event.state.auto_renew is True
    assert event.state.expires_at == MONTH_LATER
    (period,) = event.periods
    order = play.store.subscriptions[token].orders[0].order_id
    assert (period.transaction_id, period.starts_at, period.ends_at) == (order, START, MONTH_LATER)
    assert period.offer is OfferKind.NORMAL and not period.replaces_prior
    assert played.acknowledgement is not None
    assert (played.acknowledgement.kind, played.acknowledgement.product_id) == (
        "subscription",
        "premium",
    )


def test_acknowledging_clears_the_request(play, sub, gateway):
    token = play.store.purchase("premium", "monthly")
    played = sub(token, 4)
    assert played.acknowledgement is not None

    gateway.acknowledge(played.acknowledgement)

    assert play.store.subscriptions[token].acknowledged
    assert gateway.subscription(token).acknowledgement is None


def test_renewed_period_starts_where_the_previous_one_ended(play, clock, sub):
    token = play.store.purchase("premium", "monthly")
    clock.advance_to(MONTH_LATER)
    order = play.store.renew(token)

    played = sub(token, 2)

    event = played.record.event
    assert event.kind is EventKind.RENEWED
    (period,) = event.periods
    assert period.transaction_id == order and order.endswith("..0")
    assert (period.starts_at, period.ends_at) == (MONTH_LATER, START.replace(month=3))
    assert event.state is not None and event.state.expires_at == START.replace(month=3)


def test_canceled_keeps_access_to_the_paid_end_with_auto_renew_off(play, clock, sub):
    token = play.store.purchase("premium", "monthly")
    clock.advance(timedelta(days=3))
    play.store.cancel(token, by="user")

    event = sub(token, 3).record.event

    assert event.kind is EventKind.AUTO_RENEW_DISABLED
    assert event.store_subtype == "SUBSCRIPTION_STATE_CANCELED"
    assert event.state is not None
    assert event.state.status is Status.ACTIVE and event.state.auto_renew is False
    assert event.state.expires_at == MONTH_LATER
    assert event.state.expiration_reason is ExpirationReason.VOLUNTARY
    assert [p.ends_at for p in event.periods] == [MONTH_LATER]


def test_in_grace_period_reports_the_paid_end_and_the_grace_end(play, clock, sub):
    token = play.store.purchase("premium", "monthly")
    clock.advance_to(MONTH_LATER)
    play.store.fail_renewal(token)

    event = sub(token, 6).record.event

    assert event.kind is EventKind.GRACE_PERIOD_STARTED
    assert event.state is not None and event.state.status is Status.GRACE_PERIOD
    # Google extends expiryTime to the grace end; the paid end is that minus P7D.
    assert event.state.expires_at == MONTH_LATER
    assert event.state.grace_expires_at == MONTH_LATER + timedelta(days=7)
    (period,) = event.periods
    assert (period.starts_at, period.ends_at) == (START, MONTH_LATER)


def test_on_hold_is_billing_retry_without_a_period(play, clock, sub):
    token = play.store.purchase("premium", "monthly")
    clock.advance_to(MONTH_LATER)
    play.store.fail_renewal(token)
    clock.advance(timedelta(days=8))
    play.store.hold(token)

    event = sub(token, 5).record.event

    assert event.kind is EventKind.RENEWAL_FAILED
    assert event.state is not None and event.state.status is Status.BILLING_RETRY
    assert event.periods == ()


def test_recovered_from_hold_starts_a_new_period_at_the_recovery(play, clock, sub):
    token = play.store.purchase("premium", "monthly")
    clock.advance_to(MONTH_LATER)
    play.store.fail_renewal(token)
    clock.advance(timedelta(days=10))
    play.store.hold(token)
    recovered_at = clock.advance(timedelta(days=2))
    order = play.store.recover(token)

    event = sub(token, 1).record.event

    assert event.kind is EventKind.RECOVERED
    assert event.state is not None and event.state.status is Status.ACTIVE
    (period,) = event.periods
    assert period.transaction_id == order
    assert (period.starts_at, period.ends_at) == (recovered_at, recovered_at.replace(month=3))


def test_restarted_turns_auto_renew_back_on(play, clock, sub):
    token = play.store.purchase("premium", "monthly")
    play.store.cancel(token)
    clock.advance(timedelta(days=1))
    play.store.restart(token)

    event = sub(token, 7).record.event

    assert event.kind is EventKind.AUTO_RENEW_ENABLED
    assert event.state is not None
    assert event.state.auto_renew is True and event.state.expiration_reason is None


def test_pause_schedule_changed_keeps_access(play, sub):
    token = play.store.purchase("premium", "monthly")

    event = sub(token, 11).record.event

    assert event.kind is EventKind.PAUSE_SCHEDULED
    assert event.state is not None and event.state.status is Status.ACTIVE


def test_paused_has_no_access_and_no_period(play, clock, sub):
    token = play.store.purchase("premium", "monthly")
    clock.advance_to(MONTH_LATER)
    play.store.pause(token, resume_at=START.replace(month=3))

    event = sub(token, 10).record.event

    assert event.kind is EventKind.PAUSED
    assert event.state is not None and event.state.status is Status.PAUSED
    assert event.periods == ()


def test_resumed_from_pause_is_a_recovery_with_a_new_billing_date(play, clock, sub):
    token = play.store.purchase("premium", "monthly")
    clock.advance_to(MONTH_LATER)
    play.store.pause(token, resume_at=START.replace(month=3))
    resumed_at = clock.advance_to(START.replace(month=2, day=20))
    play.store.resume(token)

    event = sub(token, 1).record.event

    assert event.state is not None and event.state.status is Status.ACTIVE
    assert [p.starts_at for p in event.periods] == [resumed_at]


def test_deferred_moves_the_expiry(play, sub):
    token = play.store.purchase("premium", "monthly")
    play.store.defer(token, timedelta(days=7))

    event = sub(token, 9).record.event

    assert event.kind is EventKind.RENEWAL_EXTENDED
    assert event.state is not None
    assert event.state.expires_at == MONTH_LATER + timedelta(days=7)


def test_revoked_expires_now_and_revokes_the_latest_order(play, clock, sub):
    token = play.store.purchase("premium", "monthly")
    revoked_at = clock.advance(timedelta(days=5))
    order = play.store.revoke(token)

    played = sub(token, 12)

    event = played.record.event
    assert event.kind is EventKind.REVOKED
    assert event.state is not None and event.state.status is Status.EXPIRED
    assert event.state.expiration_reason is ExpirationReason.REVOKED
    (revocation,) = event.revocations
    assert revocation.transaction_id == order
    assert revocation.revoked_at == revoked_at
    assert revocation.reason is RevocationReason.DEVELOPER
    assert event.periods == ()


def test_expired_after_cancellation(play, clock, sub):
    token = play.store.purchase("premium", "monthly")
    play.store.cancel(token)
    clock.advance_to(MONTH_LATER + timedelta(minutes=1))
    play.store.expire(token)

    event = sub(token, 13).record.event

    assert event.kind is EventKind.EXPIRED
    assert event.state is not None and event.state.status is Status.EXPIRED
    assert event.state.expiration_reason is ExpirationReason.VOLUNTARY
    assert event.state.auto_renew is False
    assert event.state.expires_at == MONTH_LATER
    assert event.periods == ()  # the term was recorded while it was current


def test_canceled_after_account_hold_is_expired_for_a_billing_error(play, clock, sub):
    token = play.store.purchase("premium", "monthly")
    clock.advance_to(MONTH_LATER)
    play.store.fail_renewal(token)
    play.store.hold(token)
    clock.advance(timedelta(days=60))
    play.store.cancel(token, by="system")

    event = sub(token, 3).record.event

    assert event.state is not None and event.state.status is Status.EXPIRED
    assert event.state.expiration_reason is ExpirationReason.BILLING_ERROR
    assert event.periods == ()


def test_pending_purchase(play, sub):
    token = play.store.purchase("premium", "monthly", pending=True)

    played = sub(token, 4)

    event = played.record.event
    assert event.kind is EventKind.PENDING
    assert event.state is not None and event.state.status is Status.PENDING
    assert event.periods == ()
    assert played.acknowledgement is None  # a pending purchase cannot be acknowledged


def test_pending_purchase_canceled(play, sub):
    token = play.store.purchase("premium", "monthly", pending=True)
    play.store.cancel_pending(token)

    event = sub(token, 20).record.event

    assert event.kind is EventKind.PENDING_CANCELED
    assert event.state is not None and event.state.status is Status.EXPIRED
    assert event.state.expiration_reason is ExpirationReason.PENDING_CANCELED


@pytest.mark.parametrize(
    ("code", "store_type", "kind"),
    [
        (8, "SUBSCRIPTION_PRICE_CHANGE_CONFIRMED", EventKind.PRICE_INCREASE),
        (17, "SUBSCRIPTION_ITEMS_CHANGED", EventKind.REFRESHED),
        (18, "SUBSCRIPTION_CANCELLATION_SCHEDULED", EventKind.AUTO_RENEW_DISABLED),
        (19, "SUBSCRIPTION_PRICE_CHANGE_UPDATED", EventKind.PRICE_INCREASE),
        (22, "SUBSCRIPTION_PRICE_STEP_UP_CONSENT_UPDATED", EventKind.PRICE_INCREASE),
        (99, "UNKNOWN_99", EventKind.UNKNOWN),
    ],
)
def test_informational_and_unknown_types_still_fetch_the_state(play, sub, code, store_type, kind):
    token = play.store.purchase("premium", "monthly")

    event = sub(token, code).record.event

    assert (event.kind, event.store_type) == (kind, store_type)
    assert event.state is not None and event.state.status is Status.ACTIVE


def test_free_trial_period_lasts_the_offer_phase(play, clock, sub):
    token = play.store.purchase("premium", "monthly", "trial")

    event = sub(token, 4).record.event

    (period,) = event.periods
    assert period.offer is OfferKind.TRIAL
    assert (period.starts_at, period.ends_at) == (START, START + timedelta(days=7))
    clock.advance_to(START + timedelta(days=7))
    play.store.renew(token)
    (renewal,) = sub(token, 2).record.event.periods
    assert renewal.offer is OfferKind.NORMAL
    assert (renewal.starts_at, renewal.ends_at) == (
        START + timedelta(days=7),
        (START + timedelta(days=7)).replace(month=2),
    )


def test_introductory_phase_recurs_then_base_price(play, clock, sub):
    token = play.store.purchase("premium", "monthly", "intro")
    offers = [sub(token, 4).record.event.periods[0].offer]
    for month in (2, 3):
        clock.advance_to(START.replace(month=month))
        play.store.renew(token)
        offers.append(sub(token, 2).record.event.periods[0].offer)

    assert offers == [OfferKind.INTRO, OfferKind.INTRO, OfferKind.NORMAL]


def test_test_purchase_is_sandbox(play, sub):
    token = play.store.purchase("premium", "yearly", test=True)

    record = sub(token, 4).record

    assert record.environment is Environment.SANDBOX
    assert record.event.periods[0].ends_at == START.replace(year=2027)


def test_upgrade_links_the_new_token_and_replaces_the_old_period(play, clock, sub):
    old = play.store.purchase("premium", "monthly")
    changed_at = clock.advance(timedelta(days=10))
    new = play.store.replace(old, "premium_plus", "monthly")

    played = sub(new, 4)

    record = played.record
    assert record.event.kind is EventKind.PRODUCT_CHANGED
    assert (record.store_key, record.linked_key) == (new, old)
    (period,) = record.event.periods
    assert period.replaces_prior and period.starts_at == changed_at
    assert period.product_id == "premium_plus"
    # The replaced token reports no state: the chain's state is the new token's.
    old_record = sub(old, 13).record
    assert old_record.event.state is None


def test_one_time_product_purchased_and_acknowledged(play, deliver, publisher, gateway):
    token = play.store.buy("coins_100", account_id="acct-1")

    (played,) = deliver(publisher.one_time_notification(token, "coins_100", 1))

    record, event = played.record, played.record.event
    assert event.kind is EventKind.PURCHASED
    assert event.store_type == "ONE_TIME_PRODUCT_PURCHASED"
    assert record.product_type is None  # the engine's product config decides
    assert record.account_hint == "acct-1"
    assert event.state is not None and event.state.status is Status.ACTIVE
    (period,) = event.periods
    assert (period.starts_at, period.ends_at) == (START, None)
    assert played.acknowledgement is not None
    gateway.acknowledge(played.acknowledgement)
    assert play.store.products[token].acknowledged


def test_one_time_product_pending_canceled(play, deliver, publisher):
    token = play.store.buy("coins_100", pending=True, test=True)
    play.store.set_product_state(token, 1)

    (played,) = deliver(publisher.one_time_notification(token, "coins_100", 2))

    event = played.record.event
    assert event.kind is EventKind.PENDING_CANCELED
    assert played.record.environment is Environment.SANDBOX
    assert event.state is not None and event.state.status is Status.EXPIRED
    assert event.state.expiration_reason is ExpirationReason.PENDING_CANCELED
    assert event.periods == () and played.acknowledgement is None


def test_voided_subscription_refunds_the_order_and_refreshes_the_state(
    play, clock, deliver, publisher
):
    token = play.store.purchase("premium", "monthly")
    voided_at = clock.advance(timedelta(days=2))
    order = play.store.refund(token, reason=7)

    (played,) = deliver(publisher.voided_notification(token, order, product_type=1))

    event = played.record.event
    assert event.kind is EventKind.REFUNDED
    assert event.state is not None and event.state.status is Status.ACTIVE
    (revocation,) = event.revocations
    assert (revocation.transaction_id, revocation.revoked_at) == (order, voided_at)


def test_voided_subscription_google_no_longer_knows_is_still_a_refund(
    play, clock, deliver, publisher
):
    token = play.store.purchase("premium", "monthly")
    voided_at = clock.advance(timedelta(days=2))
    order = play.store.refund(token)
    play.store.forget(token)

    (played,) = deliver(publisher.voided_notification(token, order, product_type=1))

    event = played.record.event
    assert event.kind is EventKind.REFUNDED and event.state is None
    (revocation,) = event.revocations
    assert (revocation.transaction_id, revocation.revoked_at) == (order, voided_at)


def test_voided_one_time_purchase_and_partial_refund(play, deliver, publisher):
    token = play.store.buy("coins_100")
    order = play.store.refund(token)

    (full,) = deliver(publisher.voided_notification(token, order, product_type=2))
    (partial,) = deliver(publisher.voided_notification(token, order, product_type=2, refund_type=2))

    assert full.record.event.state is None
    assert [r.transaction_id for r in full.record.event.revocations] == [order]
    assert partial.record.event.revocations == ()
    assert partial.record.event.store_subtype == "REFUND_TYPE_QUANTITY_BASED_PARTIAL_REFUND"


def test_test_notification_yields_no_record(deliver, publisher):
    assert deliver(publisher.test_notification()) == ()


def test_voided_purchases_list_pages_through_refunds(play, clock, gateway):
    tokens = [play.store.purchase("premium", "monthly") for _ in range(3)]
    for token in tokens:
        clock.advance(timedelta(hours=1))
        play.store.refund(token, reason=1)

    pages = [gateway.voided(START, max_results=2)]
    while pages[-1].next_page_token is not None:
        pages.append(gateway.voided(START, pages[-1].next_page_token, max_results=2))
    refunded = [r for page in pages for r in page.records]

    assert {r.record.store_key for r in refunded} == set(tokens)
    assert all(r.record.event.kind is EventKind.REFUNDED for r in refunded)
    assert all(r.record.event.revocations[0].reason is RevocationReason.REFUNDED for r in refunded)
    assert len(pages) == 2
    assert list(gateway.all_voided(START, max_results=2)) == refunded
