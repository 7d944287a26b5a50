"""Verified Apple data -> `StoreRecord`s: the one place that maps Apple's fields to the domain.

Input is always verified and decoded (`SignedDataVerifier`); output follows the domain's
merge rules (iap_engine.domain.events):

- one `Period` per signed transaction, as of that transaction's signedDate;
- one `Revocation` per transaction, also when it is *not* revoked: Apple transactions are
  complete records, so "not revoked as of signedDate" reverses an earlier refund. An
  upgraded transaction (isUpgraded, revocationDate = time of the upgrade) is no refund and
  yields no revocation; the upgrade is the new period's `replaces_prior`;
- a `StoreState` from `data.status` and the renewal info, or derived from a lone
  transaction; None where the input says nothing about the current state.

Apple dates are epoch milliseconds (sometimes floats); prices are milliunits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from iap_engine.domain import (
    Environment,
    EventKind,
    ExpirationReason,
    OfferKind,
    Period,
    ProductType,
    Revocation,
    RevocationReason,
    Status,
    Store,
    StoreEvent,
    StoreRecord,
    StoreState,
)
from store_adapters.apple.errors import Reason, VerificationError
from store_adapters.apple.kinds import EXPIRATION_INTENTS, EXPIRED_SUBTYPE_REASONS, kind_of
from store_adapters.apple.verify import VerifiedNotification, epoch_ms, instant

Json = Mapping[str, Any]
_T = TypeVar("_T")

STATUSES: Mapping[int, Status] = {
    1: Status.ACTIVE,
    2: Status.EXPIRED,
    3: Status.BILLING_RETRY,
    4: Status.GRACE_PERIOD,
    5: Status.REVOKED,
}

PRODUCT_TYPES: Mapping[str, ProductType] = {
    "Auto-Renewable Subscription": ProductType.AUTO_RENEWABLE,
    "Non-Consumable": ProductType.NON_CONSUMABLE,
    "Consumable": ProductType.CONSUMABLE,
    "Non-Renewing Subscription": ProductType.NON_RENEWING,
}

REVOCATION_REASONS: Mapping[int, RevocationReason] = {
    0: RevocationReason.REFUNDED,
    1: RevocationReason.REFUNDED_APP_ISSUE,
}

OFFER_TYPES: Mapping[int, OfferKind] = {
    1: OfferKind.INTRO,
    2: OfferKind.PROMOTIONAL,
    3: OfferKind.OFFER_CODE,
    4: OfferKind.WIN_BACK,
}

# Notifications whose transaction is the one the event is about (a refund, a refund
# request), which need not be the subscription's latest: without the renewal info's
# renewalDate they do not say when the current period ends.
_ABOUT_ONE_TRANSACTION = frozenset(
    {"REFUND", "REFUND_DECLINED", "REFUND_REVERSED", "CONSUMPTION_REQUEST"}
)


@dataclass(frozen=True, slots=True)
class NotificationInfo:
    """What the inbox and timeline keep of a notification, whatever its type."""

    delivery_id: str | None  # notificationUUID: the same for every retry of one delivery
    notification_type: str | None
    subtype: str | None
    signed_date: datetime
    environment: Environment
    # originalTransactionId when the notification concerns one purchase, else None
    # (TEST, RENEWAL_EXTENSION summaries, external purchase tokens, consent changes).
    store_key: str | None


def environment_of(apple_environment: object) -> Environment:
    # Xcode and LocalTesting data are never real money: they count as sandbox.
    return Environment.PRODUCTION if apple_environment == "Production" else Environment.SANDBOX


def notification_info(notification: VerifiedNotification) -> NotificationInfo:
    payload = notification.payload
    transaction = notification.transaction
    return NotificationInfo(
        delivery_id=_text(payload.get("notificationUUID")),
        notification_type=_text(payload.get("notificationType")),
        subtype=_text(payload.get("subtype")),
        signed_date=notification.signed_date,
        environment=environment_of(notification.environment),
        store_key=_text(transaction.get("originalTransactionId")) if transaction else None,
    )


def notification_record(notification: VerifiedNotification) -> StoreRecord | None:
    """The record of a notification about one purchase; None for the others (see
    `NotificationInfo.store_key`), which the caller keeps in the inbox and timeline only."""
    transaction = notification.transaction
    if transaction is None:
        return None
    payload = notification.payload
    notification_type = _text(payload.get("notificationType"))
    subtype = _text(payload.get("subtype"))
    renewal = notification.renewal_info
    data = payload.get("data")
    status_code = data.get("status") if isinstance(data, dict) else None
    kind = kind_of(notification_type, subtype, _auto_renew(renewal))
    state = _state(
        transaction,
        renewal,
        status_code,
        signed_date=notification.signed_date,
        expired_subtype=subtype if notification_type == "EXPIRED" else None,
        latest_known=notification_type not in _ABOUT_ONE_TRANSACTION,
    )
    family = notification_type == "REVOKE"
    return _record(
        kind=kind,
        store_time=notification.signed_date,
        transactions=(transaction,),
        state=state,
        family_revocation=family,
        store_type=notification_type,
        store_subtype=subtype,
    )


def transaction_record(
    transaction: Json,
    *,
    kind: EventKind = EventKind.REFRESHED,
    renewal_info: Json | None = None,
    status: object = None,
    with_state: bool = True,
) -> StoreRecord:
    """One verified transaction (a StoreKit 2 signed transaction, Get Transaction Info, a
    Get All Subscription Statuses item with its renewal info and status)."""
    signed = _date(transaction.get("signedDate")) or _required(transaction, "purchaseDate")
    if renewal_info is not None:
        renewal_signed = _date(renewal_info.get("signedDate"))
        if renewal_signed is not None and renewal_signed > signed:
            signed = renewal_signed
    state = (
        _state(transaction, renewal_info, status, signed_date=signed, expired_subtype=None)
        if with_state
        else None
    )
    return _record(kind=kind, store_time=signed, transactions=(transaction,), state=state)


def history_records(
    transactions: Iterable[Json], *, kind: EventKind = EventKind.REFRESHED
) -> list[StoreRecord]:
    """Transactions of one customer (Transaction History, Look Up Order ID, Refund History),
    one record per originalTransactionId, periods and revocations only for subscriptions.

    A history says nothing of auto-renew or billing state; one-time purchases get the
    state their transaction implies (their only transaction is the whole story).
    """
    groups: dict[str, list[Json]] = {}
    for transaction in transactions:
        groups.setdefault(_required_text(transaction, "originalTransactionId"), []).append(
            transaction
        )
    records = []
    for group in groups.values():
        group.sort(
            key=lambda t: (_date(t.get("purchaseDate")) or _EPOCH, str(t.get("transactionId")))
        )
        latest = group[-1]
        store_time = max(_date(t.get("signedDate")) or _EPOCH for t in group)
        state = None
        if _product_type(latest) is not ProductType.AUTO_RENEWABLE:
            state = _state(latest, None, None, signed_date=store_time, expired_subtype=None)
        records.append(
            _record(kind=kind, store_time=store_time, transactions=tuple(group), state=state)
        )
    return records


# -- building blocks -----------------------------------------------------------------------

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _record(
    *,
    kind: EventKind,
    store_time: datetime,
    transactions: Sequence[Json],
    state: StoreState | None,
    family_revocation: bool = False,
    store_type: str | None = None,
    store_subtype: str | None = None,
) -> StoreRecord:
    latest = transactions[-1]
    revocations = tuple(
        revocation
        for transaction in transactions
        if (revocation := _revocation(transaction, family_revocation)) is not None
    )
    event = StoreEvent(
        kind=kind,
        store_time=store_time,
        state=state,
        periods=tuple(_period(transaction) for transaction in transactions),
        revocations=revocations,
        store_type=store_type,
        store_subtype=store_subtype,
    )
    return StoreRecord(
        store=Store.APP_STORE,
        environment=environment_of(latest.get("environment")),
        store_key=_required_text(latest, "originalTransactionId"),
        event=event,
        product_type=_product_type(latest),
        account_hint=_text(latest.get("appAccountToken")),
    )


def _period(transaction: Json) -> Period:
    product_type = _product_type(transaction)
    transaction_id = _required_text(transaction, "transactionId")
    price = transaction.get("price")
    return Period(
        transaction_id=transaction_id,
        product_id=_required_text(transaction, "productId"),
        starts_at=_required(transaction, "purchaseDate"),
        # Non-renewing subscriptions and one-time products: the service completes the end
        # from the product's configuration.
        ends_at=(
            _date(transaction.get("expiresDate"))
            if product_type in (ProductType.AUTO_RENEWABLE, None)
            else None
        ),
        offer=_offer(transaction),
        price_micros=price * 1000
        if isinstance(price, int) and not isinstance(price, bool)
        else None,
        currency=_text(transaction.get("currency")),
        replaces_prior=(
            product_type is ProductType.AUTO_RENEWABLE
            and transaction.get("transactionReason") == "PURCHASE"
            and transaction_id != _text(transaction.get("originalTransactionId"))
        ),
        as_of=_as_of(transaction),
    )


def _offer(transaction: Json) -> OfferKind:
    offer = _code(OFFER_TYPES, transaction.get("offerType")) or OfferKind.NORMAL
    if offer is OfferKind.INTRO:
        discount = transaction.get("offerDiscountType")
        # Before offerDiscountType existed (2023), a free trial showed as a zero price.
        if discount == "FREE_TRIAL" or (discount is None and transaction.get("price") == 0):
            return OfferKind.TRIAL
    return offer


def _revocation(transaction: Json, family: bool) -> Revocation | None:
    if transaction.get("isUpgraded") is True:
        return None
    revoked_at = _date(transaction.get("revocationDate"))
    reason: RevocationReason | None = None
    if revoked_at is not None:
        if family:
            reason = RevocationReason.FAMILY_SHARING
        else:
            reason = (
                _code(REVOCATION_REASONS, transaction.get("revocationReason"))
                or RevocationReason.UNKNOWN
            )
    return Revocation(
        transaction_id=_required_text(transaction, "transactionId"),
        revoked_at=revoked_at,
        reason=reason,
        as_of=_as_of(transaction),
    )


def _state(
    transaction: Json,
    renewal: Json | None,
    status_code: object,
    *,
    signed_date: datetime,
    expired_subtype: str | None,
    latest_known: bool = True,
) -> StoreState | None:
    product_type = _product_type(transaction)
    renewing = product_type is ProductType.AUTO_RENEWABLE
    if status_code is not None:
        status = _code(STATUSES, status_code)
        if status is None:
            return None  # a status this version does not know: no guess
    else:
        if transaction.get("isUpgraded") is True:
            return None  # describes a replaced purchase, not the subscription now
        status = _derived_status(transaction, signed_date)
    expires_at: datetime | None = None
    if renewing:
        renewal_date = _date(renewal.get("renewalDate")) if renewal else None
        if renewal_date is not None:
            expires_at = renewal_date
        elif latest_known:
            expires_at = _date(transaction.get("expiresDate"))
        else:
            return None
    product_id = _required_text(transaction, "productId")
    if renewing and renewal is not None:
        product_id = _text(renewal.get("productId")) or product_id
    reason: ExpirationReason | None = None
    if status is Status.EXPIRED:
        reason = EXPIRED_SUBTYPE_REASONS.get(expired_subtype or "")
        if reason is None and renewal is not None and renewal.get("expirationIntent") is not None:
            # An intent this version does not know still says the subscription expired.
            reason = (
                _code(EXPIRATION_INTENTS, renewal.get("expirationIntent"))
                or ExpirationReason.UNKNOWN
            )
    elif status is Status.REVOKED:
        reason = ExpirationReason.REVOKED
    return StoreState(
        status=status,
        product_id=product_id,
        auto_renew=bool(_auto_renew(renewal)),
        expires_at=expires_at,
        grace_expires_at=_date(renewal.get("gracePeriodExpiresDate")) if renewal else None,
        renewal_product_id=_text(renewal.get("autoRenewProductId")) if renewal else None,
        expiration_reason=reason,
    )


def _derived_status(transaction: Json, signed_date: datetime) -> Status:
    if _date(transaction.get("revocationDate")) is not None:
        return Status.REVOKED
    expires = _date(transaction.get("expiresDate"))
    if expires is not None and expires <= signed_date:
        return Status.EXPIRED
    return Status.ACTIVE


def _auto_renew(renewal: Json | None) -> bool | None:
    if renewal is None:
        return None
    return renewal.get("autoRenewStatus") == 1


def _product_type(transaction: Json) -> ProductType | None:
    value = transaction.get("type")
    return PRODUCT_TYPES.get(value) if isinstance(value, str) else None


def _code(table: Mapping[int, _T], value: object) -> _T | None:
    """An Apple integer enum's meaning; None for a value this version does not know."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return table.get(value)


def _as_of(transaction: Json) -> datetime:
    return _date(transaction.get("signedDate")) or _required(transaction, "purchaseDate")


def _date(value: object) -> datetime | None:
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return None
    milliseconds = epoch_ms(value)  # raises on a date no datetime can hold
    assert milliseconds is not None
    return instant(milliseconds)


def _required(payload: Json, name: str) -> datetime:
    value = _date(payload.get(name))
    if value is None:
        raise VerificationError(Reason.MALFORMED, f"the transaction has no {name}")
    return value


def _text(value: object) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _required_text(payload: Json, name: str) -> str:
    value = _text(payload.get(name))
    if not value:
        raise VerificationError(Reason.MALFORMED, f"the transaction has no {name}")
    return value
