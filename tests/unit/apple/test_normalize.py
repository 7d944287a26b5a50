"""Verified Apple data -> StoreRecords: kinds, snapshots, periods and revocations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
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
    Store,
    StoreRecord,
)
from store_adapters.apple.kinds import KINDS, kind_of
from store_adapters.apple.normalize import (
    history_records,
    notification_info,
    notification_record,
    transaction_record,
)
from store_adapters.apple.verify import SignedDataVerifier, VerifiedNotification
from store_emulator.apple.signer import JwsSigner
from tests.unit.apple.conftest import (
    NOW,
    millis,
    notification_payload,
    renewal_payload,
    transaction_payload,
)

# Notification types that concern no single purchase: Apple sends them without a
# transaction, and they normalize to no record.
WITHOUT_PURCHASE = {"TEST", "RENEWAL_EXTENSION", "EXTERNAL_PURCHASE_TOKEN", "RESCIND_CONSENT"}


def notify(
    verifier: SignedDataVerifier,
    signer: JwsSigner,
    notification_type: str,
    subtype: str | None = None,
    *,
    transaction: dict[str, Any] | None = None,
    renewal: dict[str, Any] | None = None,
    status: int | None = 1,
    **overrides: Any,
) -> VerifiedNotification:
    payload = notification_payload(
        signer,
        notification_type,
        subtype,
        transaction=transaction,
        renewal=renewal,
        status=status,
        **overrides,
    )
    return verifier.verify_notification(signer.sign(payload))


def record_of(
    verifier: SignedDataVerifier,
    signer: JwsSigner,
    notification_type: str,
    subtype: str | None = None,
    *,
    transaction: dict[str, Any] | None = None,
    renewal: dict[str, Any] | None = None,
    status: int | None = 1,
) -> StoreRecord:
    """The record of a notification about the standard subscription, or the one given."""
    notification = notify(
        verifier,
        signer,
        notification_type,
        subtype,
        transaction=transaction or transaction_payload(),
        renewal=renewal or renewal_payload(),
        status=status,
    )
    record = notification_record(notification)
    assert record is not None
    return record


@pytest.mark.parametrize(("key", "kind"), sorted(KINDS.items(), key=str), ids=str)
def test_every_documented_type_and_subtype_maps_through_the_table(
    verifier: SignedDataVerifier,
    signer: JwsSigner,
    key: tuple[str, str | None],
    kind: EventKind,
) -> None:
    notification_type, subtype = key
    if notification_type in WITHOUT_PURCHASE:
        notification = notify(verifier, signer, notification_type, subtype, status=None)
        assert notification_record(notification) is None
        info = notification_info(notification)
        assert (info.notification_type, info.subtype, info.store_key) == (*key, None)
        return
    record = record_of(verifier, signer, notification_type, subtype)
    assert record.event.kind is kind
    assert (record.event.store_type, record.event.store_subtype) == key


def test_the_table_covers_every_type_apple_documents() -> None:
    documented = {
        "SUBSCRIBED", "DID_RENEW", "DID_FAIL_TO_RENEW", "GRACE_PERIOD_EXPIRED",
        "DID_CHANGE_RENEWAL_STATUS", "DID_CHANGE_RENEWAL_PREF", "OFFER_REDEEMED", "EXPIRED",
        "PRICE_INCREASE", "REFUND", "REFUND_DECLINED", "REFUND_REVERSED", "REVOKE",
        "RENEWAL_EXTENDED", "RENEWAL_EXTENSION", "CONSUMPTION_REQUEST", "TEST",
        "ONE_TIME_CHARGE", "EXTERNAL_PURCHASE_TOKEN", "METADATA_UPDATE", "MIGRATION",
        "PRICE_CHANGE", "RESCIND_CONSENT",
    }  # fmt: skip
    assert {notification_type for notification_type, _ in KINDS} == documented


@pytest.mark.parametrize(
    ("notification_type", "subtype"),
    [("SOMETHING_NEW", None), ("DID_RENEW", "SOMETHING_NEW"), ("EXPIRED", "UNHEARD_OF")],
)
def test_unknown_types_and_subtypes_are_recorded_as_unknown(
    verifier: SignedDataVerifier, signer: JwsSigner, notification_type: str, subtype: str
) -> None:
    record = record_of(verifier, signer, notification_type, subtype)
    assert record.event.kind is EventKind.UNKNOWN
    assert record.event.store_type == notification_type
    assert record.event.state is not None  # its report still counts


def test_an_unknown_status_value_gives_no_state(
    verifier: SignedDataVerifier, signer: JwsSigner
) -> None:
    record = record_of(verifier, signer, "DID_RENEW", status=9)
    assert record.event.state is None
    assert record.event.periods  # facts still count


def test_a_renewal_snapshot(verifier: SignedDataVerifier, signer: JwsSigner) -> None:
    record = record_of(
        verifier,
        signer,
        "DID_RENEW",
        transaction=transaction_payload(appAccountToken="9f0e5c8a-6a8e-4a5b-9e3e-2b8f0f7c1d2e"),
        renewal=renewal_payload(autoRenewProductId="premium.yearly"),
    )
    assert record.store is Store.APP_STORE
    assert record.environment is Environment.SANDBOX
    assert record.store_key == "2000000000000100"
    assert record.product_type is ProductType.AUTO_RENEWABLE
    assert record.account_hint == "9f0e5c8a-6a8e-4a5b-9e3e-2b8f0f7c1d2e"
    event = record.event
    assert event.kind is EventKind.RENEWED
    assert event.store_time == NOW
    assert event.state is not None
    assert event.state.status is Status.ACTIVE
    assert event.state.auto_renew is True
    assert event.state.product_id == "premium.monthly"
    assert event.state.renewal_product_id == "premium.yearly"
    assert event.state.expires_at == NOW + timedelta(days=27)
    (period,) = event.periods
    assert period.transaction_id == "2000000000000101"
    assert period.starts_at == NOW - timedelta(days=3)
    assert period.ends_at == NOW + timedelta(days=27)
    assert period.price_micros == 9_990_000
    assert period.currency == "USD"
    assert period.offer is OfferKind.NORMAL
    assert period.replaces_prior is False
    assert period.as_of == NOW
    (revocation,) = event.revocations
    assert (revocation.transaction_id, revocation.revoked_at) == ("2000000000000101", None)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (1, Status.ACTIVE),
        (2, Status.EXPIRED),
        (3, Status.BILLING_RETRY),
        (4, Status.GRACE_PERIOD),
        (5, Status.REVOKED),
    ],
)
def test_status_codes(
    verifier: SignedDataVerifier, signer: JwsSigner, status: int, expected: Status
) -> None:
    record = record_of(verifier, signer, "DID_RENEW", status=status)
    assert record.event.state is not None
    assert record.event.state.status is expected


def test_grace_period_snapshot(verifier: SignedDataVerifier, signer: JwsSigner) -> None:
    grace_end = NOW + timedelta(days=16)
    record = record_of(
        verifier,
        signer,
        "DID_FAIL_TO_RENEW",
        "GRACE_PERIOD",
        renewal=renewal_payload(
            gracePeriodExpiresDate=millis(grace_end),
            isInBillingRetryPeriod=True,
            expirationIntent=2,
        ),
        status=4,
    )
    assert record.event.state is not None
    assert record.event.kind is EventKind.GRACE_PERIOD_STARTED
    assert record.event.state.grace_expires_at == grace_end
    assert record.event.state.expiration_reason is None  # not expired (yet)


@pytest.mark.parametrize(
    ("subtype", "intent", "reason"),
    [
        ("VOLUNTARY", 1, ExpirationReason.VOLUNTARY),
        ("BILLING_RETRY", 2, ExpirationReason.BILLING_ERROR),
        ("PRICE_INCREASE", 3, ExpirationReason.PRICE_INCREASE),
        ("PRODUCT_NOT_FOR_SALE", 4, ExpirationReason.PRODUCT_UNAVAILABLE),
        (None, 5, ExpirationReason.UNKNOWN),
        (None, 2, ExpirationReason.BILLING_ERROR),
        (None, 77, ExpirationReason.UNKNOWN),
    ],
)
def test_expiration_reasons(
    verifier: SignedDataVerifier,
    signer: JwsSigner,
    subtype: str | None,
    intent: int,
    reason: ExpirationReason,
) -> None:
    record = record_of(
        verifier,
        signer,
        "EXPIRED",
        subtype,
        transaction=transaction_payload(expiresDate=millis(NOW - timedelta(hours=1))),
        renewal=renewal_payload(autoRenewStatus=0, expirationIntent=intent),
        status=2,
    )
    assert record.event.state is not None
    assert record.event.state.status is Status.EXPIRED
    assert record.event.state.expiration_reason is reason


@pytest.mark.parametrize(
    ("auto_renew", "kind"), [(0, "auto_renew_disabled"), (1, "auto_renew_enabled")]
)
def test_a_status_change_without_subtype_reads_the_renewal_info(
    verifier: SignedDataVerifier, signer: JwsSigner, auto_renew: int, kind: str
) -> None:
    record = record_of(
        verifier,
        signer,
        "DID_CHANGE_RENEWAL_STATUS",
        renewal=renewal_payload(autoRenewStatus=auto_renew),
    )
    assert record.event.kind == kind
    assert kind_of("DID_CHANGE_RENEWAL_STATUS", None, None) is EventKind.UNKNOWN


@pytest.mark.parametrize(
    ("fields", "offer"),
    [
        ({"offerType": 1, "offerDiscountType": "FREE_TRIAL", "price": 0}, OfferKind.TRIAL),
        ({"offerType": 1, "price": 0}, OfferKind.TRIAL),
        ({"offerType": 1, "offerDiscountType": "PAY_AS_YOU_GO"}, OfferKind.INTRO),
        ({"offerType": 1, "offerDiscountType": "PAY_UP_FRONT"}, OfferKind.INTRO),
        ({"offerType": 2, "offerDiscountType": "PAY_AS_YOU_GO"}, OfferKind.PROMOTIONAL),
        ({"offerType": 3, "offerDiscountType": "FREE_TRIAL"}, OfferKind.OFFER_CODE),
        ({"offerType": 4}, OfferKind.WIN_BACK),
        ({"offerType": 9}, OfferKind.NORMAL),
        ({}, OfferKind.NORMAL),
    ],
)
def test_offers(fields: dict[str, Any], offer: OfferKind) -> None:
    record = transaction_record(transaction_payload(**fields))
    assert record.event.periods[0].offer is offer


def test_a_refund_of_an_older_transaction_keeps_the_current_term(
    verifier: SignedDataVerifier, signer: JwsSigner
) -> None:
    old = transaction_payload(
        transactionId="2000000000000050",
        purchaseDate=millis(NOW - timedelta(days=40)),
        expiresDate=millis(NOW - timedelta(days=10)),
        revocationDate=millis(NOW - timedelta(hours=1)),
        revocationReason=1,
    )
    renewal = renewal_payload()
    record = notification_record(
        notify(verifier, signer, "REFUND", transaction=old, renewal=renewal)
    )
    assert record is not None and record.event.state is not None
    assert record.event.kind is EventKind.REFUNDED
    # The current term comes from renewalDate, not from the refunded transaction.
    assert record.event.state.expires_at == NOW + timedelta(days=27)
    (revocation,) = record.event.revocations
    assert revocation.revoked_at == NOW - timedelta(hours=1)
    assert revocation.reason is RevocationReason.REFUNDED_APP_ISSUE
    # Without renewalDate the notification says nothing reliable about the current term.
    del renewal["renewalDate"]
    bare = notification_record(notify(verifier, signer, "REFUND", transaction=old, renewal=renewal))
    assert bare is not None
    assert bare.event.state is None
    assert bare.event.revocations == record.event.revocations


def test_a_reversed_refund_reports_the_transaction_as_not_revoked(
    verifier: SignedDataVerifier, signer: JwsSigner
) -> None:
    record = record_of(verifier, signer, "REFUND_REVERSED")
    assert record.event.kind is EventKind.REFUND_REVERSED
    (revocation,) = record.event.revocations
    assert revocation.revoked_at is None
    assert revocation.as_of == NOW


def test_a_family_sharing_revoke(verifier: SignedDataVerifier, signer: JwsSigner) -> None:
    record = record_of(
        verifier,
        signer,
        "REVOKE",
        transaction=transaction_payload(
            inAppOwnershipType="FAMILY_SHARED", revocationDate=millis(NOW)
        ),
        renewal=renewal_payload(autoRenewStatus=0),
        status=5,
    )
    assert record.event.state is not None
    assert record.event.kind is EventKind.REVOKED
    assert record.event.state.status is Status.REVOKED
    assert record.event.state.expiration_reason is ExpirationReason.REVOKED
    assert record.event.revocations[0].reason is RevocationReason.FAMILY_SHARING


def test_an_upgrade_is_a_new_period_not_a_refund() -> None:
    upgraded = transaction_payload(
        transactionId="2000000000000101",
        isUpgraded=True,
        revocationDate=millis(NOW - timedelta(days=1)),
    )
    new = transaction_payload(
        transactionId="2000000000000102",
        productId="premium.yearly",
        purchaseDate=millis(NOW - timedelta(days=1)),
        expiresDate=millis(NOW + timedelta(days=364)),
        transactionReason="PURCHASE",
    )
    (record,) = history_records([new, upgraded])
    periods = {p.transaction_id: p for p in record.event.periods}
    assert periods["2000000000000102"].replaces_prior is True
    assert periods["2000000000000101"].replaces_prior is False
    assert [r.transaction_id for r in record.event.revocations] == ["2000000000000102"]
    assert record.event.state is None  # a history says nothing of auto-renew
    upgraded_alone = transaction_record(upgraded)
    assert upgraded_alone.event.state is None
    assert upgraded_alone.event.revocations == ()


@pytest.mark.parametrize(
    ("apple_type", "product_type"),
    [
        ("Non-Consumable", ProductType.NON_CONSUMABLE),
        ("Consumable", ProductType.CONSUMABLE),
        ("Non-Renewing Subscription", ProductType.NON_RENEWING),
    ],
)
def test_one_time_purchases(
    verifier: SignedDataVerifier, signer: JwsSigner, apple_type: str, product_type: ProductType
) -> None:
    purchase = transaction_payload(
        transactionId="2000000000000300",
        originalTransactionId="2000000000000300",
        productId="lifetime",
        type=apple_type,
        expiresDate=None,
        subscriptionGroupIdentifier=None,
        transactionReason="PURCHASE",
    )
    record = notification_record(
        notify(verifier, signer, "ONE_TIME_CHARGE", transaction=purchase, status=None)
    )
    assert record is not None and record.event.state is not None
    assert record.product_type is product_type
    assert record.event.kind is EventKind.PURCHASED
    assert record.event.state.status is Status.ACTIVE
    assert record.event.state.auto_renew is False
    assert record.event.state.expires_at is None
    assert record.event.periods[0].ends_at is None
    assert record.event.periods[0].replaces_prior is False
    refunded = dict(purchase, revocationDate=millis(NOW), revocationReason=0)
    refund = notification_record(
        notify(verifier, signer, "REFUND", transaction=refunded, status=None)
    )
    assert refund is not None and refund.event.state is not None
    assert refund.event.state.status is Status.REVOKED


def test_a_lone_transaction_derives_its_state() -> None:
    expired = transaction_record(
        transaction_payload(expiresDate=millis(NOW - timedelta(seconds=1)))
    )
    assert expired.event.state is not None
    assert expired.event.state.status is Status.EXPIRED
    active = transaction_record(transaction_payload(), kind=EventKind.PURCHASED)
    assert active.event.state is not None
    assert (active.event.kind, active.event.state.status) == (EventKind.PURCHASED, Status.ACTIVE)
    assert active.event.state.auto_renew is False  # no renewal info: not known to renew
    assert transaction_record(transaction_payload(), with_state=False).event.state is None


def test_a_statuses_item_takes_the_newest_signed_date() -> None:
    later = NOW + timedelta(seconds=5)
    record = transaction_record(
        transaction_payload(), renewal_info=renewal_payload(signedDate=millis(later)), status=1
    )
    assert record.event.kind is EventKind.REFRESHED
    assert record.event.store_time == later


def test_local_environments_count_as_sandbox() -> None:
    for environment in ("Xcode", "LocalTesting", "Sandbox"):
        record = transaction_record(transaction_payload(environment=environment))
        assert record.environment is Environment.SANDBOX
    production = transaction_record(transaction_payload(environment="Production"))
    assert production.environment is Environment.PRODUCTION


def test_history_groups_by_original_transaction() -> None:
    first = transaction_payload()
    second = transaction_payload(
        transactionId="2000000000000102",
        purchaseDate=millis(NOW + timedelta(days=27)),
        expiresDate=millis(NOW + timedelta(days=57)),
    )
    other = transaction_payload(
        transactionId="2000000000000900",
        originalTransactionId="2000000000000900",
        type="Non-Consumable",
        productId="lifetime",
        expiresDate=None,
    )
    records = {r.store_key: r for r in history_records([second, other, first])}
    subscription = records["2000000000000100"]
    assert [p.transaction_id for p in subscription.event.periods] == [
        "2000000000000101",
        "2000000000000102",
    ]
    assert records["2000000000000900"].event.state is not None


def test_no_record_for_a_summary(verifier: SignedDataVerifier, signer: JwsSigner) -> None:
    payload = {
        "notificationType": "RENEWAL_EXTENSION",
        "subtype": "SUMMARY",
        "notificationUUID": "abc",
        "version": "2.0",
        "signedDate": millis(NOW),
        "summary": {
            "requestIdentifier": "req-1",
            "environment": "Sandbox",
            "appAppleId": 1234567890,
            "bundleId": "com.example.app",
            "productId": "premium.monthly",
            "succeededCount": 10,
            "failedCount": 0,
        },
    }
    notification = verifier.verify_notification(signer.sign(payload))
    assert notification_record(notification) is None
    info = notification_info(notification)
    assert (info.delivery_id, info.subtype, info.store_key) == ("abc", "SUMMARY", None)
    assert info.signed_date == datetime.fromtimestamp(millis(NOW) / 1000, UTC)
