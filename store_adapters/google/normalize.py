"""Google Play answers -> domain `StoreRecord`s. The only module that reads purchase fields.

Inputs are Google's JSON as the Developer API returns it (SubscriptionPurchaseV2,
ProductPurchase, VoidedPurchase, monetization Subscription and SubscriptionOffer) plus the
notification that caused the fetch, if any. Every function is pure: the fetch time comes in
as `fetched_at`.

How the snapshot maps (checked against Google's reference and lifecycle guide):

- `store_time` is `fetched_at`: subscriptionsv2.get answers with the truth at the time of the
  call, so the newest fetch wins. The RTDN's `eventTimeMillis` is kept on `PlayRecord`.
- status from `subscriptionState`: ACTIVE -> active; CANCELED -> active with auto-renew off
  until `expiryTime`, expired after; IN_GRACE_PERIOD -> grace_period; ON_HOLD ->
  billing_retry; PAUSED -> paused; EXPIRED -> expired; PENDING -> pending;
  PENDING_PURCHASE_CANCELED -> expired (reason pending_canceled).
- `expiryTime` is the paid end, except in grace: Google "dynamically extends the expiryTime
  value until the grace period has expired", so in grace `expiryTime` is the grace end
  (`grace_expires_at`) and the paid end is `expiryTime` minus the base plan's
  `gracePeriodDuration` (from the catalogue). During account hold `expiryTime` "is set to a
  past timestamp", while paused it is not a paid end either, and once expired (revoked,
  replaced) it may be when access was cut; so only active and grace snapshots carry a period
  (each term is recorded while it is current).
- the subscription is the auto-renewing line item (the first one; add-on items are ignored).
- one `Period` per snapshot, for `latestSuccessfulOrderId` (with its `..N` renewal suffix):
  Google gives no per-order start, so `starts_at` is the paid end minus the duration of the
  current phase (base plan `billingPeriodDuration`, or the offer's free-trial or intro phase
  `duration`), never before the subscription's `startTime` (which, for a replacing token,
  is the replacement instant). Consecutive renewals thus meet exactly, and a period that
  follows a recovery from account hold (which resets the billing date) starts at the
  recovery. Known limits: a deferred term (`SUBSCRIPTION_DEFERRED`) is reported as starting
  later by the deferral, and a term crossing a shortened month (e.g. Jan 31 -> Feb 28) that
  is not the first can overlap its predecessor by up to 3 days.
- a replacing token (`linkedPurchaseToken`, first order, replacement not DEFERRED) marks its
  period `replaces_prior`, so the domain ends the old token's period at its start. A token
  whose `canceledStateContext` says `replacementCancellation` reports no state: the chain's
  state comes from the token that replaced it.
- the API never says an order was refunded; revocations come only from voided purchases and
  SUBSCRIPTION_REVOKED.
- `acknowledgementState == ACKNOWLEDGEMENT_STATE_PENDING` (or `acknowledgementState == 0`
  for one-time products) puts an `Acknowledgement` on the record: after storing, call
  `PlayGateway.acknowledge(record.acknowledgement)` (Google refunds after 3 days otherwise).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal

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
from store_adapters.google.durations import Duration
from store_adapters.google.notification import (
    ONE_TIME_PRODUCT_TYPES,
    REFUND_TYPES,
    DeveloperNotification,
    OneTimeProductNotification,
    SubscriptionNotification,
    type_name,
)

K = EventKind

# RTDN SubscriptionNotification.notificationType -> what happened, in the domain's words.
SUBSCRIPTION_EVENT_KINDS: dict[int, EventKind] = {
    1: K.RECOVERED,  # SUBSCRIPTION_RECOVERED (from account hold, or resumed from pause)
    2: K.RENEWED,  # SUBSCRIPTION_RENEWED
    3: K.AUTO_RENEW_DISABLED,  # SUBSCRIPTION_CANCELED (access lasts to expiryTime)
    4: K.PURCHASED,  # SUBSCRIPTION_PURCHASED (PRODUCT_CHANGED for an immediate replacement)
    5: K.RENEWAL_FAILED,  # SUBSCRIPTION_ON_HOLD -> billing_retry
    6: K.GRACE_PERIOD_STARTED,  # SUBSCRIPTION_IN_GRACE_PERIOD
    7: K.AUTO_RENEW_ENABLED,  # SUBSCRIPTION_RESTARTED (restored before expiry)
    8: K.PRICE_INCREASE,  # SUBSCRIPTION_PRICE_CHANGE_CONFIRMED (deprecated)
    9: K.RENEWAL_EXTENDED,  # SUBSCRIPTION_DEFERRED
    10: K.PAUSED,  # SUBSCRIPTION_PAUSED
    11: K.PAUSE_SCHEDULED,  # SUBSCRIPTION_PAUSE_SCHEDULE_CHANGED
    12: K.REVOKED,  # SUBSCRIPTION_REVOKED
    13: K.EXPIRED,  # SUBSCRIPTION_EXPIRED
    17: K.REFRESHED,  # SUBSCRIPTION_ITEMS_CHANGED (an add-on item changed; state says what)
    18: K.AUTO_RENEW_DISABLED,  # SUBSCRIPTION_CANCELLATION_SCHEDULED (installments)
    19: K.PRICE_INCREASE,  # SUBSCRIPTION_PRICE_CHANGE_UPDATED
    20: K.PENDING_CANCELED,  # SUBSCRIPTION_PENDING_PURCHASE_CANCELED
    22: K.PRICE_INCREASE,  # SUBSCRIPTION_PRICE_STEP_UP_CONSENT_UPDATED
}

ONE_TIME_EVENT_KINDS: dict[int, EventKind] = {
    1: K.PURCHASED,  # ONE_TIME_PRODUCT_PURCHASED
    2: K.PENDING_CANCELED,  # ONE_TIME_PRODUCT_CANCELED (a pending purchase was canceled)
}

# VoidedPurchase.voidedReason, as documented for purchases.voidedpurchases.
VOIDED_REASONS: dict[int, str] = {
    0: "Other",
    1: "Remorse",
    2: "Not_received",
    3: "Defective",
    4: "Accidental_purchase",
    5: "Fraud",
    6: "Friendly_fraud",
    7: "Chargeback",
    8: "Unacknowledged_purchase",  # Google refunded it: not acknowledged within 3 days
}
VOIDED_SOURCES: dict[int, str] = {0: "User", 1: "Developer", 2: "Google"}

_ACTIVE = "SUBSCRIPTION_STATE_ACTIVE"
_CANCELED = "SUBSCRIPTION_STATE_CANCELED"
_GRACE = "SUBSCRIPTION_STATE_IN_GRACE_PERIOD"
_HOLD = "SUBSCRIPTION_STATE_ON_HOLD"
_PAUSED = "SUBSCRIPTION_STATE_PAUSED"
_EXPIRED = "SUBSCRIPTION_STATE_EXPIRED"
_PENDING = "SUBSCRIPTION_STATE_PENDING"
_PENDING_CANCELED = "SUBSCRIPTION_STATE_PENDING_PURCHASE_CANCELED"

_STATUS = {
    _ACTIVE: Status.ACTIVE,
    _CANCELED: Status.ACTIVE,
    _GRACE: Status.GRACE_PERIOD,
    _HOLD: Status.BILLING_RETRY,
    _PAUSED: Status.PAUSED,
    _EXPIRED: Status.EXPIRED,
    _PENDING: Status.PENDING,
    _PENDING_CANCELED: Status.EXPIRED,
}
# States in which a purchase can and must be acknowledged.
_ACKNOWLEDGEABLE = frozenset({_ACTIVE, _CANCELED, _GRACE, _HOLD, _PAUSED})
_CANCEL_REASONS = {
    "userInitiatedCancellation": ExpirationReason.VOLUNTARY,
    "systemInitiatedCancellation": ExpirationReason.BILLING_ERROR,
    "developerInitiatedCancellation": ExpirationReason.DEVELOPER,
    "replacementCancellation": ExpirationReason.REPLACED,
}
_OFFER_PHASES = {
    "freeTrial": OfferKind.TRIAL,
    "introductoryPrice": OfferKind.INTRO,
    "basePrice": OfferKind.NORMAL,
    "prorationPeriod": OfferKind.NORMAL,
}


@dataclass(frozen=True, slots=True)
class PlanKey:
    """Which catalogue entries describe a purchase's terms."""

    product_id: str
    base_plan_id: str | None
    offer_id: str | None


@dataclass(frozen=True, slots=True)
class PlanTerms:
    """Durations of one recurrence of each phase, from the monetization API."""

    billing_period: Duration | None = None
    grace_period: Duration | None = None
    trial: Duration | None = None
    intro: Duration | None = None


UNKNOWN_TERMS = PlanTerms()


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    """A purchase Google is waiting for us to acknowledge (or it refunds it in 3 days)."""

    kind: Literal["subscription", "product"]
    product_id: str
    token: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PlayRecord:
    record: StoreRecord
    # Not None: after the record is stored, acknowledge with PlayGateway.acknowledge().
    acknowledgement: Acknowledgement | None = None
    # The notification's eventTimeMillis, when one caused this fetch (timeline, support).
    event_time: datetime | None = None


# -- catalogue --------------------------------------------------------------------------


def plan_key(purchase: Mapping[str, Any]) -> PlanKey | None:
    item = _main_item(_items(purchase))
    product_id = item.get("productId")
    if not isinstance(product_id, str) or not product_id:
        return None
    details = _dict(item.get("offerDetails"))
    return PlanKey(
        product_id=product_id,
        base_plan_id=_str(details.get("basePlanId")),
        offer_id=_str(details.get("offerId")),
    )


def plan_terms(
    product: Mapping[str, Any] | None,
    base_plan_id: str | None,
    offer: Mapping[str, Any] | None = None,
) -> PlanTerms:
    """Read a monetization Subscription (and SubscriptionOffer) into `PlanTerms`."""
    plans = [p for p in (product or {}).get("basePlans") or [] if isinstance(p, dict)]
    plan = next((p for p in plans if p.get("basePlanId") == base_plan_id), None)
    if plan is None and base_plan_id is None and len(plans) == 1:
        plan = plans[0]
    kind: dict[str, Any] = {}
    for name in ("autoRenewingBasePlanType", "prepaidBasePlanType", "installmentsBasePlanType"):
        if plan is not None and isinstance(plan.get(name), dict):
            kind = plan[name]
            break
    trial = intro = None
    for phase in (offer or {}).get("phases") or []:
        if not isinstance(phase, dict):
            continue
        duration = Duration.parse_optional(phase.get("duration"))
        if _is_free(phase):
            trial = trial or duration
        else:
            intro = intro or duration
    return PlanTerms(
        billing_period=Duration.parse_optional(kind.get("billingPeriodDuration")),
        grace_period=Duration.parse_optional(kind.get("gracePeriodDuration")),
        trial=trial,
        intro=intro,
    )


def _is_free(phase: Mapping[str, Any]) -> bool:
    configs = [c for c in phase.get("regionalConfigs") or [] if isinstance(c, dict)]
    other = _dict(phase.get("otherRegionsConfig"))
    return any("free" in c for c in configs) or "free" in other


# -- subscriptions ----------------------------------------------------------------------


def subscription_kind(notification_type: int | None) -> EventKind:
    if notification_type is None:
        return K.REFRESHED
    return SUBSCRIPTION_EVENT_KINDS.get(notification_type, K.UNKNOWN)


def normalize_subscription(
    purchase: Mapping[str, Any],
    *,
    token: str,
    fetched_at: datetime,
    terms: PlanTerms = UNKNOWN_TERMS,
    notification: SubscriptionNotification | None = None,
    event_time: datetime | None = None,
) -> PlayRecord:
    """A SubscriptionPurchaseV2 as fetched at `fetched_at`, caused by `notification`."""
    raw_state = _str(purchase.get("subscriptionState")) or "SUBSCRIPTION_STATE_UNSPECIFIED"
    item = _main_item(_items(purchase))
    product_id = _str(item.get("productId")) or ""
    expiry = _time(item.get("expiryTime"))
    plan = _dict(item.get("autoRenewingPlan"))
    auto_renew = plan.get("autoRenewEnabled") is True
    start_time = _time(purchase.get("startTime"))
    order_id = _str(item.get("latestSuccessfulOrderId")) or _str(purchase.get("latestOrderId"))
    linked = _str(purchase.get("linkedPurchaseToken"))
    canceled = _dict(purchase.get("canceledStateContext"))
    cancel_reason = next((r for k, r in _CANCEL_REASONS.items() if k in canceled), None)
    code = notification.notification_type if notification is not None else None

    status = _STATUS.get(raw_state)
    if raw_state == _CANCELED and (expiry is None or expiry <= fetched_at):
        status = Status.EXPIRED
    if raw_state == _CANCELED:
        auto_renew = False
    reason = cancel_reason
    if raw_state == _PENDING_CANCELED:
        reason = ExpirationReason.PENDING_CANCELED
    elif code == 12 and status is Status.EXPIRED:
        reason = ExpirationReason.REVOKED

    paid_end, grace_end = expiry, None
    if status is Status.GRACE_PERIOD and expiry is not None:
        grace_end = expiry
        if terms.grace_period:
            paid_end = terms.grace_period.before(expiry)

    replacement = _dict(item.get("itemReplacement"))
    immediate = replacement.get("replacementMode") not in ("DEFERRED", "KEEP_EXISTING")
    replaces_prior = linked is not None and order_id is not None and ".." not in order_id
    replaces_prior = replaces_prior and immediate

    periods: tuple[Period, ...] = ()
    # Only a current term's expiryTime is its paid end (or, in grace, derives it): once
    # expired, revoked or replaced it may be the time access was cut instead.
    describes_term = status in (Status.ACTIVE, Status.GRACE_PERIOD)
    if order_id is not None and paid_end is not None and describes_term:
        offer = _offer_kind(item)
        periods = (
            Period(
                transaction_id=order_id,
                product_id=product_id,
                starts_at=_period_start(
                    paid_end, offer, item, terms, start_time, order_id, fetched_at
                ),
                ends_at=paid_end,
                offer=offer,
                replaces_prior=replaces_prior,
                as_of=fetched_at,
            ),
        )

    revocations: tuple[Revocation, ...] = ()
    if code == 12 and order_id is not None:
        revoked_at = event_time or fetched_at
        revocations = (
            Revocation(
                transaction_id=order_id,
                revoked_at=revoked_at,
                reason=RevocationReason.DEVELOPER
                if "developerInitiatedCancellation" in canceled
                else RevocationReason.REFUNDED,
                as_of=revoked_at,
            ),
        )

    state: StoreState | None = None
    if status is not None and "replacementCancellation" not in canceled:
        deferred = _dict(item.get("deferredItemReplacement"))
        state = StoreState(
            status=status,
            product_id=product_id,
            auto_renew=auto_renew and status not in (Status.EXPIRED, Status.PENDING),
            expires_at=paid_end,
            grace_expires_at=grace_end,
            renewal_product_id=_str(deferred.get("productId")),
            expiration_reason=reason,
        )

    kind = subscription_kind(code)
    if kind is K.PURCHASED and status is Status.PENDING:
        kind = K.PENDING
    elif kind is K.PURCHASED and replaces_prior and _changes_product(item, replacement):
        kind = K.PRODUCT_CHANGED

    acknowledgement = None
    if purchase.get("acknowledgementState") == "ACKNOWLEDGEMENT_STATE_PENDING" and (
        raw_state in _ACKNOWLEDGEABLE and product_id
    ):
        acknowledgement = Acknowledgement("subscription", product_id, token)

    record = StoreRecord(
        store=Store.PLAY_STORE,
        environment=_environment("testPurchase" in purchase),
        store_key=token,
        linked_key=linked,
        product_type=ProductType.NON_RENEWING
        if "prepaidPlan" in item and "autoRenewingPlan" not in item
        else ProductType.AUTO_RENEWABLE,
        account_hint=_str(
            _dict(purchase.get("externalAccountIdentifiers")).get("obfuscatedExternalAccountId")
        ),
        event=StoreEvent(
            kind=kind,
            store_time=fetched_at,
            state=state,
            periods=periods,
            revocations=revocations,
            store_type=notification.name if notification is not None else None,
            store_subtype=raw_state,
        ),
    )
    return PlayRecord(record=record, acknowledgement=acknowledgement, event_time=event_time)


def _period_start(
    end: datetime,
    offer: OfferKind,
    item: Mapping[str, Any],
    terms: PlanTerms,
    start_time: datetime | None,
    order_id: str,
    fetched_at: datetime,
) -> datetime:
    phase = next((k for k in _OFFER_PHASES if k in _dict(item.get("offerPhase"))), None)
    if phase == "prorationPeriod":
        duration = None  # computed by Google at the change; the term starts at the change
    elif offer is OfferKind.TRIAL or phase == "freeTrial":
        duration = terms.trial
    elif phase == "introductoryPrice" or offer is OfferKind.INTRO:
        duration = terms.intro
    else:
        duration = terms.billing_period
    first_order = ".." not in order_id
    if duration:
        start = duration.before(end)
    elif first_order and start_time is not None:
        start = start_time
    else:
        # No duration known and not the first term: the term is current at the fetch.
        start = min(end, fetched_at)
    if start_time is not None and start < start_time:
        start = start_time
    return min(start, end)


def _offer_kind(item: Mapping[str, Any]) -> OfferKind:
    phase = _dict(item.get("offerPhase"))
    kind = next((k for name, k in _OFFER_PHASES.items() if name in phase), OfferKind.NORMAL)
    if kind in (OfferKind.TRIAL, OfferKind.INTRO) and _dict(item.get("signupPromotion")):
        return OfferKind.OFFER_CODE
    return kind


def _changes_product(item: Mapping[str, Any], replacement: Mapping[str, Any]) -> bool:
    if not replacement:
        return False
    details = _dict(item.get("offerDetails"))
    return replacement.get("productId") != item.get("productId") or replacement.get(
        "basePlanId"
    ) != details.get("basePlanId")


# -- one-time products ------------------------------------------------------------------


def one_time_kind(notification_type: int | None) -> EventKind:
    if notification_type is None:
        return K.REFRESHED
    return ONE_TIME_EVENT_KINDS.get(notification_type, K.UNKNOWN)


def normalize_product(
    purchase: Mapping[str, Any],
    *,
    token: str,
    product_id: str,
    fetched_at: datetime,
    notification: OneTimeProductNotification | None = None,
    event_time: datetime | None = None,
) -> PlayRecord:
    """A ProductPurchase (purchases.products.get). Whether the product is consumable,
    non-consumable or non-renewing is the engine's product configuration's to say."""
    state = purchase.get("purchaseState")
    code = notification.notification_type if notification is not None else None
    order_id = _str(purchase.get("orderId")) or token
    purchased_at = _millis(purchase.get("purchaseTimeMillis"))
    status = {0: Status.ACTIVE, 1: Status.EXPIRED, 2: Status.PENDING}.get(
        state if isinstance(state, int) else -1
    )
    reason = None
    if status is Status.EXPIRED:
        reason = ExpirationReason.PENDING_CANCELED if code == 2 else ExpirationReason.UNKNOWN
    periods: tuple[Period, ...] = ()
    if state == 0 and purchased_at is not None:
        periods = (
            Period(
                transaction_id=order_id,
                product_id=product_id,
                starts_at=purchased_at,
                ends_at=None,
                as_of=fetched_at,
            ),
        )
    kind = one_time_kind(code)
    if kind is K.PURCHASED and status is Status.PENDING:
        kind = K.PENDING
    acknowledgement = None
    if purchase.get("acknowledgementState") == 0 and state == 0:
        acknowledgement = Acknowledgement("product", product_id, token)
    record = StoreRecord(
        store=Store.PLAY_STORE,
        environment=_environment(purchase.get("purchaseType") == 0),
        store_key=token,
        account_hint=_str(purchase.get("obfuscatedExternalAccountId")),
        event=StoreEvent(
            kind=kind,
            store_time=fetched_at,
            state=None
            if status is None
            else StoreState(
                status=status,
                product_id=product_id,
                auto_renew=False,
                expires_at=None,
                expiration_reason=reason,
            ),
            periods=periods,
            store_type=type_name(ONE_TIME_PRODUCT_TYPES, code) if code is not None else None,
            store_subtype=f"purchaseState={state}",
        ),
    )
    return PlayRecord(record=record, acknowledgement=acknowledgement, event_time=event_time)


# -- voided purchases -------------------------------------------------------------------


def revocation_reason(voided_reason: int | None, voided_source: int | None) -> RevocationReason:
    if voided_reason in (6, 7):  # Friendly_fraud, Chargeback
        return RevocationReason.CHARGEBACK
    if voided_source == 1:  # the developer refunded or revoked it
        return RevocationReason.DEVELOPER
    if voided_reason in (2, 3):  # Not_received, Defective
        return RevocationReason.REFUNDED_APP_ISSUE
    return RevocationReason.REFUNDED


def normalize_voided(voided: Mapping[str, Any]) -> PlayRecord | None:
    """One entry of purchases.voidedpurchases.list; None when it names no purchase."""
    token = _str(voided.get("purchaseToken"))
    order_id = _str(voided.get("orderId")) or token
    voided_at = _millis(voided.get("voidedTimeMillis"))
    if token is None or order_id is None or voided_at is None:
        return None
    reason = _int(voided.get("voidedReason"))
    source = _int(voided.get("voidedSource"))
    # A quantity-based partial refund leaves the rest of the purchase in force.
    partial = _int(voided.get("voidedQuantity")) is not None
    revocations = (
        ()
        if partial
        else (
            Revocation(
                transaction_id=order_id,
                revoked_at=voided_at,
                reason=revocation_reason(reason, source),
                as_of=voided_at,
            ),
        )
    )
    record = StoreRecord(
        store=Store.PLAY_STORE,
        # A voided purchase does not say; an existing subscription keeps its own.
        environment=Environment.PRODUCTION,
        store_key=token,
        event=StoreEvent(
            kind=K.REFUNDED,
            store_time=voided_at,
            revocations=revocations,
            store_type="VOIDED_PURCHASE",
            store_subtype=f"{VOIDED_REASONS.get(reason or 0, 'Other')}"
            f"/{VOIDED_SOURCES.get(source or 0, 'User')}",
        ),
    )
    return PlayRecord(record=record, event_time=voided_at)


def voided_from_notification(
    notification: DeveloperNotification, refreshed: PlayRecord | None = None
) -> PlayRecord:
    """A VoidedPurchaseNotification as a refund of its order; `refreshed` is the purchase
    fetched afterwards (subscriptions only), whose state then comes along."""
    voided = notification.voided_purchase
    assert voided is not None
    order_id = voided.order_id or voided.purchase_token
    revoked_at = notification.event_time
    revocations: tuple[Revocation, ...] = ()
    if not voided.is_partial:
        revocations = (
            Revocation(
                transaction_id=order_id,
                revoked_at=revoked_at,
                reason=RevocationReason.REFUNDED,
                as_of=revoked_at,
            ),
        )
    store_subtype = type_name(REFUND_TYPES, voided.refund_type)
    if refreshed is not None:
        event = refreshed.record.event
        return replace(
            refreshed,
            record=replace(
                refreshed.record,
                event=replace(
                    event,
                    kind=K.REFUNDED,
                    revocations=event.revocations + revocations,
                    store_type="VOIDED_PURCHASE",
                    store_subtype=store_subtype,
                ),
            ),
            event_time=revoked_at,
        )
    record = StoreRecord(
        store=Store.PLAY_STORE,
        environment=Environment.PRODUCTION,
        store_key=voided.purchase_token,
        event=StoreEvent(
            kind=K.REFUNDED,
            store_time=revoked_at,
            revocations=revocations,
            store_type="VOIDED_PURCHASE",
            store_subtype=store_subtype,
        ),
    )
    return PlayRecord(record=record, event_time=revoked_at)


# -- field readers ----------------------------------------------------------------------


def _items(purchase: Mapping[str, Any]) -> Sequence[dict[str, Any]]:
    items = purchase.get("lineItems")
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


def _main_item(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The auto-renewing line item (the base subscription), else the first one."""
    for item in items:
        if isinstance(item.get("autoRenewingPlan"), dict):
            return item
    return items[0] if items else {}


def _environment(test: bool) -> Environment:
    return Environment.SANDBOX if test else Environment.PRODUCTION


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _time(value: Any) -> datetime | None:
    """An RFC 3339 time as Google writes it ("2022-04-22T18:39:58.270Z", up to nanos)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _millis(value: Any) -> datetime | None:
    millis = _int(value)
    if millis is None:
        return None
    try:
        return datetime.fromtimestamp(millis / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None
