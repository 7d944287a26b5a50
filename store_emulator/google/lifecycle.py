"""Google Play as time passes, and what its customers do, with the RTDNs it publishes.

`PlayLifecycle` keeps what Google knows about each subscription but does not show in
`subscriptionsv2` (the customer's payment method, a scheduled pause, a deferred plan change,
when account hold ends), drives `PlayStore`'s operations at the instants Google would, and
publishes the matching real-time developer notification for each change:

- at the end of a paid period: SUBSCRIPTION_RENEWED (a new `..N` order) if the payment
  works; else SUBSCRIPTION_IN_GRACE_PERIOD (expiryTime moves to the grace end) when the base
  plan has a grace period, SUBSCRIPTION_ON_HOLD (no access) when it has only account hold,
  SUBSCRIPTION_EXPIRED when it has neither. A deferred downgrade/crossgrade happens here
  instead (a new purchase token linked to the old one: SUBSCRIPTION_PURCHASED); a scheduled
  pause starts (SUBSCRIPTION_PAUSED); an opt-in price increase the customer did not accept
  cancels the subscription (SUBSCRIPTION_CANCELED, then SUBSCRIPTION_EXPIRED).
- at the grace end: SUBSCRIPTION_ON_HOLD, or SUBSCRIPTION_EXPIRED without account hold;
- at the end of account hold: SUBSCRIPTION_EXPIRED;
- at the pause's end: SUBSCRIPTION_RECOVERED with a new order from the resume (or account
  hold when the charge fails);
- canceled (auto-renew off): SUBSCRIPTION_EXPIRED at the end of the paid period.

Customers' actions publish SUBSCRIPTION_PURCHASED, _CANCELED, _RESTARTED,
_PAUSE_SCHEDULE_CHANGED, _RECOVERED (payment fixed, or resumed early), _DEFERRED,
_PRICE_CHANGE_UPDATED, _REVOKED, and voided purchase notifications for refunds. Callers
serialize calls (the emulator holds one lock around them).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from store_emulator import periods
from store_emulator.errors import PaymentDeclined
from store_emulator.google.play import GooglePlay
from store_emulator.google.push import (
    ONE_TIME_PRODUCT_PURCHASED,
    SUBSCRIPTION_CANCELED,
    SUBSCRIPTION_DEFERRED,
    SUBSCRIPTION_EXPIRED,
    SUBSCRIPTION_IN_GRACE_PERIOD,
    SUBSCRIPTION_NAMES,
    SUBSCRIPTION_ON_HOLD,
    SUBSCRIPTION_PAUSE_SCHEDULE_CHANGED,
    SUBSCRIPTION_PAUSED,
    SUBSCRIPTION_PRICE_CHANGE_UPDATED,
    SUBSCRIPTION_PURCHASED,
    SUBSCRIPTION_RECOVERED,
    SUBSCRIPTION_RENEWED,
    SUBSCRIPTION_RESTARTED,
    SUBSCRIPTION_REVOKED,
    PushPublisher,
)
from store_emulator.google.state import BasePlan, SubscriptionPurchase
from store_emulator.message import Message, iso

ACTIVE = "SUBSCRIPTION_STATE_ACTIVE"
CANCELED = "SUBSCRIPTION_STATE_CANCELED"
IN_GRACE = "SUBSCRIPTION_STATE_IN_GRACE_PERIOD"
ON_HOLD = "SUBSCRIPTION_STATE_ON_HOLD"
PAUSED = "SUBSCRIPTION_STATE_PAUSED"
EXPIRED = "SUBSCRIPTION_STATE_EXPIRED"
# Play lets subscribers pause for one week up to three months.
SHORTEST_PAUSE = timedelta(weeks=1)
LONGEST_PAUSE = "P3M"


def _has(duration: str | None) -> bool:
    return bool(duration) and duration not in ("P0D", "P")


class PlayLifecycle:
    def __init__(self, play: GooglePlay, emit: Callable[[Message], None]) -> None:
        self.play = play
        self.store = play.store
        self.clock = play.clock
        self._emit = emit
        # Builds the push bodies only; the emulator adds each attempt's OIDC token.
        self._publisher = PushPublisher(play, audience="", service_account="")
        self._failing: set[str] = set()
        self._pauses: dict[str, str] = {}
        self._hold_ends: dict[str, datetime] = {}
        self._deferred: dict[str, tuple[str, str]] = {}
        play.listeners.append(self._developer_changed)

    # -- customers' actions ---------------------------------------------------------------

    def purchase(
        self,
        product_id: str,
        base_plan_id: str,
        offer_id: str | None = None,
        *,
        account_id: str | None = None,
        profile_id: str | None = None,
    ) -> str:
        """A new subscription (SUBSCRIPTION_PURCHASED); returns its purchase token."""
        token = self.store.purchase(
            product_id, base_plan_id, offer_id, account_id=account_id, profile_id=profile_id
        )
        self._notify(token, SUBSCRIPTION_PURCHASED)
        return token

    def buy(self, product_id: str, *, account_id: str | None = None) -> str:
        """A one-time product (ONE_TIME_PRODUCT_PURCHASED); returns its purchase token."""
        token = self.store.buy(product_id, account_id=account_id)
        self._send(
            "ONE_TIME_PRODUCT_PURCHASED",
            token,
            self._publisher.one_time_notification(token, product_id, ONE_TIME_PRODUCT_PURCHASED),
        )
        return token

    def cancel(self, token: str) -> None:
        """Auto-renew off (SUBSCRIPTION_CANCELED): access lasts to the paid end."""
        purchase = self._subscription(token, ACTIVE)
        self._pauses.pop(purchase.token, None)
        self.store.cancel(token, by="user")
        self._notify(token, SUBSCRIPTION_CANCELED)

    def uncancel(self, token: str) -> None:
        """Restored before the paid end (SUBSCRIPTION_RESTARTED)."""
        self._subscription(token, CANCELED)
        self.store.restart(token)
        self._notify(token, SUBSCRIPTION_RESTARTED)

    def change_product(self, token: str, product_id: str, base_plan_id: str) -> str:
        """To a higher level: an immediate replacement, charged now (a new purchase token
        linked to this one; SUBSCRIPTION_PURCHASED). To the same or a lower level: deferred
        to the next renewal. Returns the token that will renew."""
        purchase = self._subscription(token, ACTIVE)
        self.store.plan(product_id, base_plan_id)
        current = self.store.catalog_product(purchase.product_id)
        wanted = self.store.catalog_product(product_id)
        if current is None or wanted is None:
            raise LookupError(f"no subscription product {product_id}")
        if (product_id, base_plan_id) == (purchase.product_id, purchase.base_plan_id):
            if self._deferred.pop(token, None) is None:
                raise ValueError("the subscription is already on that plan")
            purchase.deferred_product_id = None  # back to the current plan
            return token
        if wanted.level <= current.level:
            self._deferred[token] = (product_id, base_plan_id)
            self.store.defer_replacement(token, product_id)
            return token
        if token in self._failing:
            raise PaymentDeclined("the upgrade could not be charged")
        self._forget(token)
        replacing = self.store.replace(token, product_id, base_plan_id, mode="CHARGE_FULL_PRICE")
        self._notify(replacing, SUBSCRIPTION_PURCHASED)
        return replacing

    def set_payment(self, token: str, *, failing: bool) -> None:
        """The payment method starts failing (noticed at the next charge) or is fixed; fixed
        in grace or on hold, the subscription recovers at once (SUBSCRIPTION_RECOVERED)."""
        purchase = self.store.subscriptions[token]
        if failing:
            self._failing.add(token)
            return
        self._failing.discard(token)
        if purchase.state in (IN_GRACE, ON_HOLD):
            self._hold_ends.pop(token, None)
            self.store.recover(token)
            self._notify(token, SUBSCRIPTION_RECOVERED)

    def pause(self, token: str, duration: str) -> None:
        """Schedule a pause of `duration` (one week to three months) from the end of the
        paid period (SUBSCRIPTION_PAUSE_SCHEDULE_CHANGED)."""
        purchase = self._subscription(token, ACTIVE)
        if self.store.plan(purchase.product_id, purchase.base_plan_id).prepaid:
            raise ValueError("prepaid plans cannot be paused")
        start = purchase.expiry_time
        end = periods.add(start, periods.check(duration))
        if end - start < SHORTEST_PAUSE or end > periods.add(start, LONGEST_PAUSE):
            raise ValueError("a pause lasts from one week to three months")
        self._pauses[token] = duration
        self._notify(token, SUBSCRIPTION_PAUSE_SCHEDULE_CHANGED)

    def resume(self, token: str) -> None:
        """Paused: resume now, charged from now (SUBSCRIPTION_RECOVERED). Pause only
        scheduled: call it off (SUBSCRIPTION_PAUSE_SCHEDULE_CHANGED)."""
        purchase = self.store.subscriptions[token]
        if purchase.state == PAUSED:
            if token in self._failing:
                raise PaymentDeclined("the resumed subscription could not be charged")
            self.store.resume(token)
            self._notify(token, SUBSCRIPTION_RECOVERED)
        elif self._pauses.pop(token, None) is not None:
            self._notify(token, SUBSCRIPTION_PAUSE_SCHEDULE_CHANGED)
        else:
            raise ValueError("the subscription is neither paused nor scheduled to pause")

    def defer(self, token: str, by: periods.Duration) -> datetime:
        """The developer defers the next charge (SUBSCRIPTION_DEFERRED): the paid period
        ends later, for free. Returns the new expiry time."""
        purchase = self._subscription(token, ACTIVE, CANCELED)
        later = periods.add(purchase.expiry_time, by)
        if later <= purchase.expiry_time:
            raise ValueError("a deferral moves the expiry time later")
        expiry = self.store.defer(token, later - purchase.expiry_time)
        self._notify(token, SUBSCRIPTION_DEFERRED)
        return expiry

    def increase_price(self, token: str, price_micros: int, *, opt_in: bool = True) -> None:
        """A new recurring price from the next renewal (SUBSCRIPTION_PRICE_CHANGE_UPDATED).
        An opt-in increase needs the customer's consent before that renewal."""
        self._subscription(token, ACTIVE, CANCELED, IN_GRACE, ON_HOLD, PAUSED)
        self.store.change_price(token, price_micros, opt_in=opt_in)
        self._notify(token, SUBSCRIPTION_PRICE_CHANGE_UPDATED)

    def consent(self, token: str) -> None:
        """The customer accepts the price increase (SUBSCRIPTION_PRICE_CHANGE_UPDATED)."""
        self.store.confirm_price_change(token)
        self._notify(token, SUBSCRIPTION_PRICE_CHANGE_UPDATED)

    def refund(self, token: str, order_id: str | None = None) -> str:
        """A refund of one order (the latest by default) without revoking access: it shows in
        voided purchases, and a voided purchase notification goes out. Returns the order."""
        subscription = token in self.store.subscriptions
        if subscription:
            orders = [o.order_id for o in self.store.subscriptions[token].orders]
            if not orders or (order_id is not None and order_id not in orders):
                raise KeyError(f"no order {order_id} for this purchase")
            refunded = order_id or orders[-1]
        elif token in self.store.products:
            refunded = self.store.products[token].order_id
        else:
            raise KeyError(f"no purchase {token}")
        if any(v.order_id == refunded for v in self.store.voided):
            raise ValueError(f"order {refunded} is already refunded")
        self.store.refund(token, refunded)
        self._voided(token, refunded, subscription)
        return refunded

    def revoke(self, token: str) -> str:
        """Refund the latest order and end access now (SUBSCRIPTION_REVOKED, and the voided
        purchase notification). Returns the refunded order."""
        self._subscription(token, ACTIVE, CANCELED, IN_GRACE, ON_HOLD, PAUSED)
        self._forget(token)
        order = self.store.revoke(token)
        self._notify(token, SUBSCRIPTION_REVOKED)
        self._voided(token, order, True)
        return order

    # -- the clock's side -----------------------------------------------------------------

    def next_due(self) -> datetime | None:
        return min(
            (due for p in list(self.store.subscriptions.values()) if (due := self._due(p))),
            default=None,
        )

    def run_due(self, now: datetime) -> None:
        """Do what Google Play does at `now` to every subscription due by then."""
        due = sorted(
            (when, p.token)
            for p in list(self.store.subscriptions.values())
            if (when := self._due(p)) is not None and when <= now
        )
        for _, token in due:
            self._act(self.store.subscriptions[token], now)

    def _due(self, purchase: SubscriptionPurchase) -> datetime | None:
        if purchase.state in (ACTIVE, CANCELED, IN_GRACE):
            return purchase.expiry_time
        if purchase.state == ON_HOLD:
            return self._hold_ends.get(purchase.token)
        if purchase.state == PAUSED:
            return purchase.auto_resume_time
        return None

    def _act(self, purchase: SubscriptionPurchase, now: datetime) -> None:
        token = purchase.token
        plan = self.store.plan(purchase.product_id, purchase.base_plan_id)
        if purchase.state == CANCELED:
            self._end(token)
        elif purchase.state == IN_GRACE:
            self._hold_or_end(token, plan, now)
        elif purchase.state == ON_HOLD:
            self._hold_ends.pop(token, None)
            self._end(token, billing_failed=True)
        elif purchase.state == PAUSED:
            if token in self._failing:
                purchase.auto_resume_time = None
                self._hold_or_end(token, plan, now)
            else:
                self.store.resume(token)
                self._notify(token, SUBSCRIPTION_RECOVERED)
        else:
            self._period_end(purchase, plan, now)

    def _period_end(self, purchase: SubscriptionPurchase, plan: BasePlan, now: datetime) -> None:
        token = purchase.token
        change = purchase.price_change
        if plan.prepaid or not purchase.auto_renew:
            self._end(token)
        elif token in self._deferred and token not in self._failing:
            product_id, base_plan_id = self._deferred.pop(token)
            self._forget(token)
            replacing = self.store.replace(token, product_id, base_plan_id, mode="DEFERRED")
            self._notify(replacing, SUBSCRIPTION_PURCHASED)
        elif token in self._pauses:
            resume_at = periods.add(purchase.expiry_time, self._pauses.pop(token))
            self.store.pause(token, resume_at)
            self._notify(token, SUBSCRIPTION_PAUSED)
        elif change is not None and change.state == "OUTSTANDING":
            # The customer never accepted the increase: Google cancels at the renewal.
            self.store.cancel(token, by="system")
            self._notify(token, SUBSCRIPTION_CANCELED)
            self._end(token)
        elif token not in self._failing:
            self.store.renew(token)
            self._notify(token, SUBSCRIPTION_RENEWED)
        elif _has(plan.grace_period):
            self.store.fail_renewal(token)
            self._notify(token, SUBSCRIPTION_IN_GRACE_PERIOD)
        else:
            self._hold_or_end(token, plan, now)

    def _hold_or_end(self, token: str, plan: BasePlan, now: datetime) -> None:
        if not _has(plan.account_hold):
            self._end(token, billing_failed=True)
            return
        self.store.hold(token)
        assert plan.account_hold is not None
        self._hold_ends[token] = periods.add(now, plan.account_hold)
        self._notify(token, SUBSCRIPTION_ON_HOLD)

    def _end(self, token: str, *, billing_failed: bool = False) -> None:
        self._forget(token)
        # Google cancels a subscription whose charge never succeeded itself: the system, not
        # the user, is named in canceledStateContext.
        self.store.expire(token, cancelled_by="system" if billing_failed else None)
        self._notify(token, SUBSCRIPTION_EXPIRED)

    # -- the Developer API's changes ------------------------------------------------------

    def _developer_changed(self, action: str, token: str) -> None:
        if action == "cancel":
            self._pauses.pop(token, None)
            self._notify(token, SUBSCRIPTION_CANCELED)
        elif action == "revoke":
            self._forget(token)
            self._notify(token, SUBSCRIPTION_REVOKED)
            self._voided(token, self.store.voided[-1].order_id, True)

    # -- reading --------------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        return {
            "package_name": self.store.package_name,
            "products": [
                {
                    "product_id": product.product_id,
                    "level": product.level,
                    "base_plans": [
                        {
                            "base_plan_id": plan.base_plan_id,
                            "billing_period": plan.billing_period,
                            "grace_period": plan.grace_period,
                            "account_hold": plan.account_hold,
                            "price_micros": plan.price_micros,
                            "currency": plan.currency,
                            "prepaid": plan.prepaid,
                        }
                        for plan in product.base_plans.values()
                    ],
                    "offers": [
                        {"base_plan_id": plan_id, "offer_id": offer_id}
                        for plan_id, offer_id in product.offers
                    ],
                }
                for product in self.store.catalog()
            ],
            "subscriptions": [self._describe(p) for p in list(self.store.subscriptions.values())],
            "purchases": [
                {
                    "purchase_token": p.token,
                    "product_id": p.product_id,
                    "order_id": p.order_id,
                    "purchase_time": iso(p.purchase_time),
                    "purchase_state": p.purchase_state,
                    "account_id": p.account_id,
                }
                for p in list(self.store.products.values())
            ],
            "voided": [
                {
                    "purchase_token": v.token,
                    "order_id": v.order_id,
                    "voided_time": iso(v.voided_time),
                    "voided_reason": v.voided_reason,
                    "voided_source": v.voided_source,
                }
                for v in list(self.store.voided)
            ],
        }

    def _describe(self, purchase: SubscriptionPurchase) -> dict[str, Any]:
        token = purchase.token
        change = purchase.price_change
        deferred = self._deferred.get(token)
        return {
            "purchase_token": token,
            "product_id": purchase.product_id,
            "base_plan_id": purchase.base_plan_id,
            "offer_id": purchase.offer_id,
            "state": purchase.state,
            "auto_renew": purchase.auto_renew,
            "start_time": iso(purchase.start_time),
            "expiry_time": iso(purchase.expiry_time),
            "payment": "failing" if token in self._failing else "ok",
            "price_micros": self.store.price(token),
            "price_change": None
            if change is None
            else {"new_price_micros": change.new_price_micros, "state": change.state},
            "pause_scheduled": self._pauses.get(token),
            "auto_resume_time": iso(purchase.auto_resume_time),
            "hold_ends_at": iso(self._hold_ends.get(token)),
            "deferred_change": None
            if deferred is None
            else {"product_id": deferred[0], "base_plan_id": deferred[1]},
            "linked_purchase_token": purchase.linked_token,
            "account_id": purchase.account_id,
            "next_event_at": iso(self._due(purchase)),
            "orders": [
                {
                    "order_id": o.order_id,
                    "starts_at": iso(o.starts_at),
                    "ends_at": iso(o.ends_at),
                    "phase": o.phase,
                }
                for o in purchase.orders
            ],
        }

    # -- internals ------------------------------------------------------------------------

    def _subscription(self, token: str, *states: str) -> SubscriptionPurchase:
        purchase = self.store.subscriptions[token]
        if purchase.state not in states:
            raise ValueError(f"not possible in {purchase.state}")
        return purchase

    def _forget(self, token: str) -> None:
        """Drop the schedules of a token that stops renewing."""
        self._pauses.pop(token, None)
        self._deferred.pop(token, None)
        self._hold_ends.pop(token, None)

    def _notify(self, token: str, code: int) -> None:
        self._send(
            SUBSCRIPTION_NAMES[code], token, self._publisher.subscription_notification(token, code)
        )

    def _voided(self, token: str, order_id: str, subscription: bool) -> None:
        notification = self._publisher.voided_notification(
            token, order_id, product_type=1 if subscription else 2
        )
        self._send("VOIDED_PURCHASE", token, notification)

    def _send(self, kind: str, token: str, notification: dict[str, Any]) -> None:
        envelope = self._publisher.envelope(notification)
        self._emit(
            Message(
                store="google",
                notification_type=kind,
                subtype=None,
                emitted_at=self.clock.now(),
                body=json.dumps(envelope).encode(),
                notification_id=envelope["message"]["messageId"],
                key=token,
            )
        )
