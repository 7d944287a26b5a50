"""The App Store as time passes, and what its customers do.

`AppleLifecycle` keeps what Apple knows but does not sign (each subscription's payment
method, when its billing retry ends, who a purchase is shared with) and drives `AppleStore`'s
verbs at the instants Apple would:

- at a period end: renewal (DID_RENEW, a new transaction) if the payment method works, into
  the pending downgrade/crossgrade product if there is one; else DID_FAIL_TO_RENEW (subtype
  GRACE_PERIOD when the app has Billing Grace Period) and billing retry for up to 60 days
  after the period end. Auto-renew off: EXPIRED VOLUNTARY. A price increase the customer did
  not consent to: EXPIRED PRICE_INCREASE.
- at the grace period's end: GRACE_PERIOD_EXPIRED (billing retry goes on);
- at the end of the retry window: EXPIRED BILLING_RETRY;
- the customer fixes the payment method in grace or retry: DID_RENEW BILLING_RECOVERY at once.

Family Sharing: a purchaser's subscription shared with a family member gives the member a
FAMILY_SHARED subscription of their own that renews and expires with the purchaser's; the
member loses it (REVOKE) when the purchaser stops sharing, the member leaves the family, or
the purchase is refunded.

`next_due` and `run_due` are the clock's side; every other public method is a customer's
action. Each notification the store creates reaches the store's listeners (the deliverer).
Callers serialize calls (the emulator holds one lock around them).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from store_emulator.apple.emulator import AppleEmulator
from store_emulator.apple.store import (
    ACTIVE,
    BILLING_RETRY,
    EXPIRED,
    GRACE_PERIOD,
    REVOKED,
    AppleEnvironment,
    Notification,
    Subscription,
    Transaction,
    UnknownPurchase,
)
from store_emulator.errors import PaymentDeclined
from store_emulator.message import iso

# Apple's billing retry lasts up to 60 days after the failed renewal.
BILLING_RETRY_WINDOW = timedelta(days=60)
# The Billing Grace Period lengths App Store Connect offers.
GRACE_PERIODS = (timedelta(days=3), timedelta(days=16), timedelta(days=28))
STATUS_NAMES = {
    ACTIVE: "active",
    EXPIRED: "expired",
    BILLING_RETRY: "billing_retry",
    GRACE_PERIOD: "grace_period",
    REVOKED: "revoked",
}
_LIVE = (ACTIVE, GRACE_PERIOD, BILLING_RETRY)


class AppleLifecycle:
    def __init__(
        self,
        emulator: AppleEmulator,
        *,
        grace_period: timedelta | None = None,
        billing_retry: timedelta = BILLING_RETRY_WINDOW,
    ) -> None:
        if grace_period is not None and grace_period not in GRACE_PERIODS:
            raise ValueError("Apple's Billing Grace Period lasts 3, 16 or 28 days")
        self.emulator = emulator
        self.store = emulator.store
        self.clock = emulator.clock
        self.grace_period = grace_period
        self.billing_retry = billing_retry
        self._failing: set[str] = set()
        self._retry_ends: dict[str, datetime] = {}
        self._members: dict[str, list[str]] = {}

    # -- customers' actions ---------------------------------------------------------------

    def subscribe(
        self,
        product_id: str,
        *,
        customer: str | None = None,
        app_account_token: str | None = None,
        offer: Literal["trial", "intro"] | None = None,
        environment: AppleEnvironment | None = None,
    ) -> Notification:
        """SUBSCRIBED (INITIAL_BUY, or RESUBSCRIBE after an expiry), optionally redeeming the
        product's free trial or introductory price."""
        notification = self.store.subscribe(
            product_id,
            customer=customer,
            environment=environment,
            app_account_token=app_account_token,
            offer=offer,
        )
        key = _key(notification)
        self._failing.discard(key)
        self._retry_ends.pop(key, None)
        return notification

    def buy(
        self,
        product_id: str,
        *,
        customer: str | None = None,
        app_account_token: str | None = None,
        environment: AppleEnvironment | None = None,
    ) -> Notification:
        """A consumable, non-consumable or non-renewing purchase: ONE_TIME_CHARGE."""
        return self.store.buy(
            product_id,
            customer=customer,
            environment=environment,
            app_account_token=app_account_token,
        )

    def cancel(self, original_transaction_id: str) -> Notification:
        """Auto-renew off: access lasts to the period end, then EXPIRED VOLUNTARY."""
        return self._set_auto_renew(original_transaction_id, False)

    def uncancel(self, original_transaction_id: str) -> Notification:
        return self._set_auto_renew(original_transaction_id, True)

    def change_product(self, original_transaction_id: str, product_id: str) -> Notification:
        """An upgrade is charged and takes effect now (DID_CHANGE_RENEWAL_PREF UPGRADE); a
        downgrade or crossgrade waits for the next renewal (subtype DOWNGRADE)."""
        subscription = self._purchaser(original_transaction_id)
        product = self.store.product(product_id)
        if subscription.status not in _LIVE:
            raise ValueError("only a live subscription can change product")
        if product.level > subscription.product.level:
            if subscription.status != ACTIVE:
                raise ValueError("an upgrade needs the subscription active")
            if original_transaction_id in self._failing:
                raise PaymentDeclined("the upgrade could not be charged")
        return self.store.change_product(original_transaction_id, product_id)

    def set_payment(self, original_transaction_id: str, *, failing: bool) -> Notification | None:
        """The customer's payment method starts failing (noticed at the next renewal) or is
        fixed; fixed during grace or billing retry, the store recovers at once."""
        subscription = self._purchaser(original_transaction_id)
        if failing:
            self._failing.add(original_transaction_id)
            return None
        self._failing.discard(original_transaction_id)
        if subscription.status not in (GRACE_PERIOD, BILLING_RETRY):
            return None
        self._retry_ends.pop(original_transaction_id, None)
        recovered = self.store.renew(original_transaction_id)
        self._renew_members(subscription)
        return recovered

    def refund(self, transaction_id: str, *, reason: int = 0) -> Notification:
        """REFUND of one transaction (revocationDate and revocationReason set on it); the
        subscription is revoked if it was the current period. Family members sharing the
        purchase lose it (REVOKE)."""
        transaction = self.store.transaction(transaction_id)
        subscription = self.store.subscriptions.get(transaction.original_transaction_id)
        if subscription is not None and subscription.family_of is not None:
            raise ValueError("family members are not charged, so there is nothing to refund")
        if transaction.revocation_date is not None and not transaction.is_upgraded:
            raise ValueError("the transaction is already refunded")
        current = subscription is not None and subscription.latest is transaction
        notification = self.store.refund(transaction_id, reason=reason)
        if current and subscription is not None:
            self._retry_ends.pop(subscription.original_transaction_id, None)
            self.stop_sharing(subscription.original_transaction_id)
        return notification

    def refund_current(self, original_transaction_id: str, *, reason: int = 0) -> Notification:
        latest = self._purchaser(original_transaction_id).latest
        return self.refund(latest.transaction_id, reason=reason)

    def reverse_refund(self, transaction_id: str) -> Notification:
        if self.store.transaction(transaction_id).revocation_date is None:
            raise ValueError("the transaction is not refunded")
        return self.store.reverse_refund(transaction_id)

    def share(self, original_transaction_id: str, member: str) -> Notification:
        """Family Sharing gives `member` access: SUBSCRIBED for the member's own
        FAMILY_SHARED subscription, which ends when the purchaser's period does."""
        subscription = self._purchaser(original_transaction_id)
        if subscription.status not in (ACTIVE, GRACE_PERIOD):
            raise ValueError("only an active subscription can be shared")
        if member == subscription.customer:
            raise ValueError("the purchaser already has the subscription")
        notification = self.store.subscribe(
            subscription.product.product_id,
            customer=member,
            environment=subscription.environment,
            family_of=original_transaction_id,
            expires=subscription.expires,
        )
        self._members.setdefault(original_transaction_id, []).append(_key(notification))
        return notification

    def stop_sharing(
        self, original_transaction_id: str, member: str | None = None
    ) -> list[Notification]:
        """The purchaser stops sharing (with everyone, or with one member): REVOKE for each
        member who loses access."""
        revoked = []
        for subscription in self._members_of(original_transaction_id):
            if member is None or subscription.customer == member:
                revoked.append(self.family_revoke(subscription.original_transaction_id))
        return revoked

    def family_revoke(self, original_transaction_id: str) -> Notification:
        """A family member loses shared access (left the family, or sharing ended): REVOKE."""
        subscription = self.store.subscription(original_transaction_id)
        if subscription.family_of is None:
            raise ValueError(f"{original_transaction_id} is not shared through Family Sharing")
        if subscription.status not in _LIVE:
            raise ValueError("the family member no longer has access")
        return self.store.revoke_family_access(original_transaction_id)

    def increase_price(
        self, original_transaction_id: str, price: int, *, consent_required: bool = True
    ) -> Notification:
        """PRICE_INCREASE (PENDING until the customer consents, or ACCEPTED when no consent
        is needed); effective at the next renewal."""
        subscription = self._purchaser(original_transaction_id)
        if subscription.status not in _LIVE:
            raise ValueError("only a live subscription gets a price increase")
        return self.store.increase_price(
            original_transaction_id, price, consent_required=consent_required
        )

    def consent(self, original_transaction_id: str) -> Notification:
        """The customer accepts the price increase: PRICE_INCREASE ACCEPTED."""
        self._purchaser(original_transaction_id)
        return self.store.consent_to_price(original_transaction_id)

    # -- the clock's side -----------------------------------------------------------------

    def next_due(self) -> datetime | None:
        with self.store.lock:
            return min(
                (due for s in self.store.subscriptions.values() if (due := self._due(s))),
                default=None,
            )

    def run_due(self, now: datetime) -> None:
        """Do what the App Store does at `now` to every subscription due by then."""
        with self.store.lock:
            due = sorted(
                (
                    (when, s.original_transaction_id)
                    for s in self.store.subscriptions.values()
                    if (when := self._due(s)) is not None and when <= now
                ),
            )
        for _, key in due:
            self._act(self.store.subscription(key))

    def _due(self, subscription: Subscription) -> datetime | None:
        if subscription.family_of is not None:
            return None  # a family member's subscription follows the purchaser's
        if subscription.status == ACTIVE:
            return subscription.expires
        if subscription.status == GRACE_PERIOD:
            return subscription.grace_period_expires
        if subscription.status == BILLING_RETRY:
            return self._retry_ends.get(subscription.original_transaction_id)
        return None

    def _act(self, subscription: Subscription) -> None:
        key = subscription.original_transaction_id
        if subscription.status == GRACE_PERIOD:
            self.store.end_grace_period(key)
        elif subscription.status == BILLING_RETRY:
            self._retry_ends.pop(key, None)
            self._expire(subscription, "BILLING_RETRY" if subscription.auto_renew else "VOLUNTARY")
        elif not subscription.auto_renew:
            self._expire(subscription, "VOLUNTARY")
        elif (
            subscription.pending_price is not None
            and not subscription.price_consented
            and subscription.auto_renew_product in (None, subscription.product)
        ):
            self._expire(subscription, "PRICE_INCREASE")
        elif key in self._failing:
            self._retry_ends[key] = subscription.expires + self.billing_retry
            self.store.fail_renewal(key, grace_period=self.grace_period)
        else:
            self.store.renew(key)
            self._renew_members(subscription)

    def _expire(self, subscription: Subscription, subtype: str) -> None:
        self.store.expire(subscription.original_transaction_id, subtype=subtype)
        for member in self._members_of(subscription.original_transaction_id):
            self.store.expire(member.original_transaction_id, subtype=subtype)

    def _renew_members(self, purchaser: Subscription) -> None:
        for member in self._members_of(purchaser.original_transaction_id):
            if member.product != purchaser.product:
                member.auto_renew_product = purchaser.product
            self.store.renew(member.original_transaction_id, expires=purchaser.expires)

    # -- reading --------------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        with self.store.lock:
            return {
                "environment": self.store.default_environment,
                "grace_period_days": self.grace_period.days if self.grace_period else None,
                "products": [
                    {
                        "product_id": p.product_id,
                        "type": p.kind,
                        "price": p.price,
                        "currency": p.currency,
                        "period": _period(p.period),
                        "group": p.group,
                        "level": p.level,
                        "trial": _period(p.trial),
                        "intro_price": p.intro_price,
                        "intro_periods": p.intro_periods,
                    }
                    for p in self.store.products.values()
                ],
                "subscriptions": [self._describe(s) for s in self.store.subscriptions.values()],
                "purchases": [_transaction(t) for t in self.store.purchases],
                "notifications": len(self.store.notifications),
            }

    def _describe(self, subscription: Subscription) -> dict[str, Any]:
        key = subscription.original_transaction_id
        pending = subscription.auto_renew_product
        return {
            "original_transaction_id": key,
            "customer": subscription.customer,
            "environment": subscription.environment,
            "product_id": subscription.product.product_id,
            "status": STATUS_NAMES.get(subscription.status, str(subscription.status)),
            "auto_renew": subscription.auto_renew,
            "expires_at": iso(subscription.expires),
            "grace_period_expires_at": iso(subscription.grace_period_expires),
            "billing_retry_ends_at": iso(self._retry_ends.get(key)),
            "payment": "failing" if key in self._failing else "ok",
            "pending_product_id": pending.product_id if pending else None,
            "price_increase": None
            if subscription.pending_price is None
            else {"price": subscription.pending_price, "consented": subscription.price_consented},
            "ownership": subscription.ownership,
            "family_of": subscription.family_of,
            "family_members": list(self._members.get(key, [])),
            "app_account_token": subscription.app_account_token,
            "next_event_at": iso(self._due(subscription)),
            "transactions": [_transaction(t) for t in subscription.transactions],
        }

    # -- internals ------------------------------------------------------------------------

    def _set_auto_renew(self, original_transaction_id: str, enabled: bool) -> Notification:
        subscription = self._purchaser(original_transaction_id)
        if subscription.status not in _LIVE:
            raise ValueError("the subscription is not live")
        if subscription.auto_renew == enabled:
            raise ValueError(f"auto-renew is already {'on' if enabled else 'off'}")
        notification = self.store.set_auto_renew(original_transaction_id, enabled)
        for member in self._members_of(original_transaction_id):
            self.store.set_auto_renew(member.original_transaction_id, enabled)
        return notification

    def _purchaser(self, original_transaction_id: str) -> Subscription:
        subscription = self.store.subscription(original_transaction_id)
        if subscription.family_of is not None:
            raise ValueError("a family member cannot manage the purchaser's subscription")
        return subscription

    def _members_of(self, original_transaction_id: str) -> list[Subscription]:
        keys = self._members.get(original_transaction_id, [])
        return [m for key in keys if (m := self.store.subscription(key)).status in _LIVE]


def _key(notification: Notification) -> str:
    if notification.original_transaction_id is None:
        raise UnknownPurchase("the notification names no purchase")
    return notification.original_transaction_id


def _period(period: object) -> str | None:
    if period is None:
        return None
    if isinstance(period, timedelta):
        return f"P{period.days}D" if not period.seconds else f"PT{int(period.total_seconds())}S"
    return str(period)


def _transaction(transaction: Transaction) -> dict[str, Any]:
    return {
        "transaction_id": transaction.transaction_id,
        "original_transaction_id": transaction.original_transaction_id,
        "product_id": transaction.product.product_id,
        "customer": transaction.customer,
        "purchase_date": iso(transaction.purchase_date),
        "expires_date": iso(transaction.expires_date),
        "reason": transaction.transaction_reason,
        "price": transaction.product.price if transaction.price is None else transaction.price,
        "offer_type": transaction.offer_type,
        "offer_discount_type": transaction.offer_discount_type,
        "ownership": transaction.ownership,
        "revocation_date": iso(transaction.revocation_date),
        "revocation_reason": transaction.revocation_reason,
        "is_upgraded": transaction.is_upgraded,
        "app_account_token": transaction.app_account_token,
    }
