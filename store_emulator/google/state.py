"""The emulated Google Play's state: catalogue, purchases, orders, voided purchases.

Everything is explicit data changed by named operations that read the time from the virtual
clock, the way Google's back end moves a subscription through its lifecycle: `purchase`,
`renew` (a new `..N` order), `fail_renewal` (grace, or account hold), `hold`, `recover`,
`cancel`, `restart`, `expire`, `pause`, `resume`, `defer`, `replace` (upgrade/downgrade with
a linked token), `revoke`, `refund`. `store_emulator.google.lifecycle` calls them at the
right instants and publishes the matching notifications.

`subscription_resource` and `product_resource` render Google's JSON (SubscriptionPurchaseV2,
ProductPurchase); `voided_resources` renders VoidedPurchase entries. Prices are micros of the
base plan's currency; a price change (`change_price`, `confirm_price_change`) applies at the
renewal after the customer accepted it (or at once for an opt-out change).
"""

from __future__ import annotations

import itertools
import random
import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from store_emulator import periods
from store_emulator.clock import Clock

# How long Google keeps answering for a token after the subscription expired.
TOKEN_RETENTION = timedelta(days=60)

SubscriptionState = Literal[
    "SUBSCRIPTION_STATE_PENDING",
    "SUBSCRIPTION_STATE_ACTIVE",
    "SUBSCRIPTION_STATE_PAUSED",
    "SUBSCRIPTION_STATE_IN_GRACE_PERIOD",
    "SUBSCRIPTION_STATE_ON_HOLD",
    "SUBSCRIPTION_STATE_CANCELED",
    "SUBSCRIPTION_STATE_EXPIRED",
    "SUBSCRIPTION_STATE_PENDING_PURCHASE_CANCELED",
]
CancelledBy = Literal["user", "system", "developer", "replacement"]
_CANCEL_CONTEXT = {
    "user": "userInitiatedCancellation",
    "system": "systemInitiatedCancellation",
    "developer": "developerInitiatedCancellation",
    "replacement": "replacementCancellation",
}


@dataclass(frozen=True)
class BasePlan:
    base_plan_id: str
    billing_period: str  # ISO 8601, e.g. "P1M"
    grace_period: str | None = "P7D"
    account_hold: str | None = "P30D"
    prepaid: bool = False
    price_micros: int = 9_990_000
    currency: str = "USD"


@dataclass(frozen=True)
class OfferPhase:
    duration: str
    recurrence_count: int = 1
    free: bool = False


@dataclass(frozen=True)
class Offer:
    base_plan_id: str
    offer_id: str
    phases: tuple[OfferPhase, ...]


@dataclass
class SubscriptionProduct:
    product_id: str
    base_plans: dict[str, BasePlan]
    offers: dict[tuple[str, str], Offer] = field(default_factory=dict)
    # Rank among the app's subscriptions: moving to a higher level is an upgrade (replaces at
    # once); the same or a lower one is a downgrade or crossgrade (at the next renewal).
    level: int = 1


PriceChangeState = Literal["OUTSTANDING", "CONFIRMED", "APPLIED"]


@dataclass
class PriceChange:
    """autoRenewingPlan.priceChangeDetails: a new recurring price and where it stands."""

    new_price_micros: int
    mode: Literal["PRICE_INCREASE", "OPT_OUT_PRICE_INCREASE", "PRICE_DECREASE"]
    state: PriceChangeState
    expected_charge_time: datetime


@dataclass(frozen=True)
class Order:
    order_id: str
    starts_at: datetime
    ends_at: datetime
    phase: str  # offerPhase field name: freeTrial | introductoryPrice | basePrice | ...


@dataclass
class SubscriptionPurchase:
    token: str
    product_id: str
    base_plan_id: str
    offer_id: str | None
    state: SubscriptionState
    start_time: datetime | None
    expiry_time: datetime
    auto_renew: bool = True
    orders: list[Order] = field(default_factory=list)
    # Remaining (phase index, recurrences left) of the offer; None once on the base price.
    phase_index: int | None = None
    recurrences_left: int = 0
    acknowledged: bool = False
    test: bool = False
    account_id: str | None = None
    profile_id: str | None = None
    linked_token: str | None = None
    cancelled_by: CancelledBy | None = None
    cancel_time: datetime | None = None
    auto_resume_time: datetime | None = None
    paid_end: datetime | None = None  # the end of the last paid term, in grace and hold
    replacement: dict[str, str] | None = None  # itemReplacement
    deferred_product_id: str | None = None
    region_code: str = "US"
    price_micros: int | None = None  # the agreed recurring price; None: the base plan's
    price_change: PriceChange | None = None

    @property
    def base_order_id(self) -> str:
        return self.orders[0].order_id.split("..")[0] if self.orders else ""


@dataclass
class ProductPurchase:
    token: str
    product_id: str
    order_id: str
    purchase_time: datetime
    purchase_state: int  # 0 purchased, 1 canceled, 2 pending
    acknowledged: bool = False
    consumed: bool = False
    test: bool = False
    account_id: str | None = None
    region_code: str = "US"


@dataclass(frozen=True)
class VoidedPurchase:
    token: str
    order_id: str
    purchase_time: datetime
    voided_time: datetime
    voided_reason: int
    voided_source: int
    subscription: bool


class PlayStore:
    """One emulated app's purchases (thread-safe: the HTTP server runs in its own thread)."""

    def __init__(self, clock: Clock, package_name: str, seed: int = 7) -> None:
        self.clock = clock
        self.package_name = package_name
        self._lock = threading.RLock()
        self._rng = random.Random(seed)  # noqa: S311 (order ids, not secrets)
        self._products: dict[str, SubscriptionProduct] = {}
        self.subscriptions: dict[str, SubscriptionPurchase] = {}
        self.products: dict[str, ProductPurchase] = {}
        self.voided: list[VoidedPurchase] = []
        self.forgotten: set[str] = set()
        self._sequence = itertools.count(1)

    # -- catalogue ------------------------------------------------------------------------

    def add_subscription_product(
        self,
        product_id: str,
        base_plans: list[BasePlan],
        offers: list[Offer] | None = None,
        *,
        level: int = 1,
    ) -> SubscriptionProduct:
        with self._lock:
            product = SubscriptionProduct(
                product_id=product_id,
                base_plans={plan.base_plan_id: plan for plan in base_plans},
                offers={(o.base_plan_id, o.offer_id): o for o in offers or []},
                level=level,
            )
            self._products[product_id] = product
            return product

    def catalog_product(self, product_id: str) -> SubscriptionProduct | None:
        with self._lock:
            return self._products.get(product_id)

    def catalog(self) -> list[SubscriptionProduct]:
        with self._lock:
            return list(self._products.values())

    def plan(self, product_id: str, base_plan_id: str) -> BasePlan:
        """The base plan (KeyError when the catalogue has no such product or plan)."""
        with self._lock:
            return self._plan(product_id, base_plan_id)

    def price(self, token: str) -> int:
        """The subscription's current recurring price, in micros."""
        with self._lock:
            return self._price(self._sub(token))

    # -- subscription lifecycle -----------------------------------------------------------

    def purchase(
        self,
        product_id: str,
        base_plan_id: str,
        offer_id: str | None = None,
        *,
        account_id: str | None = None,
        profile_id: str | None = None,
        test: bool = False,
        pending: bool = False,
        linked_token: str | None = None,
        replacement: dict[str, str] | None = None,
    ) -> str:
        """A new subscription purchase; returns its purchase token."""
        with self._lock:
            self._plan(product_id, base_plan_id)
            if (
                offer_id is not None
                and (base_plan_id, offer_id) not in self._products[product_id].offers
            ):
                raise KeyError(f"no offer {offer_id} on {product_id}/{base_plan_id}")
            now = self.clock.now()
            purchase = SubscriptionPurchase(
                token=self._token(),
                product_id=product_id,
                base_plan_id=base_plan_id,
                offer_id=offer_id,
                state="SUBSCRIPTION_STATE_PENDING" if pending else "SUBSCRIPTION_STATE_ACTIVE",
                start_time=None if pending else now,
                expiry_time=now,
                test=test,
                account_id=account_id,
                profile_id=profile_id,
                linked_token=linked_token,
                replacement=replacement,
            )
            if offer_id is not None:
                offer = self._products[product_id].offers[(base_plan_id, offer_id)]
                purchase.phase_index, purchase.recurrences_left = (
                    0,
                    offer.phases[0].recurrence_count,
                )
            self.subscriptions[purchase.token] = purchase
            if not pending:
                self._new_order(purchase, now)
            return purchase.token

    def complete_pending(self, token: str) -> None:
        with self._lock:
            purchase = self._sub(token)
            now = self.clock.now()
            purchase.state, purchase.start_time = "SUBSCRIPTION_STATE_ACTIVE", now
            self._new_order(purchase, now)

    def cancel_pending(self, token: str) -> None:
        with self._lock:
            purchase = self._sub(token)
            purchase.state = "SUBSCRIPTION_STATE_PENDING_PURCHASE_CANCELED"
            purchase.auto_renew = False

    def renew(self, token: str) -> str:
        """The renewal at the current expiry succeeds: a new `..N` order. Returns its id."""
        with self._lock:
            purchase = self._sub(token)
            start = purchase.paid_end or purchase.expiry_time
            self._advance_phase(purchase)
            self._settle_price(purchase)
            order = self._new_order(purchase, start)
            purchase.state, purchase.paid_end = "SUBSCRIPTION_STATE_ACTIVE", None
            return order.order_id

    def fail_renewal(self, token: str) -> None:
        """The renewal charge is declined: grace period if the base plan has one, else hold.
        In grace Google extends expiryTime to the end of the grace period."""
        with self._lock:
            purchase = self._sub(token)
            plan = self._plan(purchase.product_id, purchase.base_plan_id)
            purchase.paid_end = purchase.expiry_time
            if plan.grace_period and plan.grace_period not in ("P0D", "P"):
                purchase.state = "SUBSCRIPTION_STATE_IN_GRACE_PERIOD"
                purchase.expiry_time = periods.add(purchase.expiry_time, plan.grace_period)
            else:
                purchase.state = "SUBSCRIPTION_STATE_ON_HOLD"

    def hold(self, token: str) -> None:
        """Account hold: no access; expiryTime stays where access ended (in the past)."""
        with self._lock:
            purchase = self._sub(token)
            purchase.paid_end = purchase.paid_end or purchase.expiry_time
            purchase.state = "SUBSCRIPTION_STATE_ON_HOLD"

    def recover(self, token: str) -> str:
        """The user fixed the payment. From grace the renewal date is kept; from hold the
        billing date moves to the recovery. Returns the new order id."""
        with self._lock:
            purchase = self._sub(token)
            in_grace = purchase.state == "SUBSCRIPTION_STATE_IN_GRACE_PERIOD"
            start = (purchase.paid_end or purchase.expiry_time) if in_grace else self.clock.now()
            return self._restart_billing(purchase, start)

    def cancel(self, token: str, by: CancelledBy = "user") -> None:
        with self._lock:
            purchase = self._sub(token)
            purchase.state = "SUBSCRIPTION_STATE_CANCELED"
            purchase.auto_renew = False
            purchase.cancelled_by, purchase.cancel_time = by, self.clock.now()

    def restart(self, token: str) -> None:
        """Restored from Play > Subscriptions before expiry: the cancellation is undone."""
        with self._lock:
            purchase = self._sub(token)
            purchase.state, purchase.auto_renew = "SUBSCRIPTION_STATE_ACTIVE", True
            purchase.cancelled_by = purchase.cancel_time = None

    def expire(self, token: str, *, cancelled_by: CancelledBy | None = None) -> None:
        with self._lock:
            purchase = self._sub(token)
            purchase.state, purchase.auto_renew = "SUBSCRIPTION_STATE_EXPIRED", False
            if cancelled_by is not None and purchase.cancelled_by is None:
                purchase.cancelled_by, purchase.cancel_time = cancelled_by, self.clock.now()
            if purchase.paid_end is not None:
                purchase.expiry_time = min(purchase.expiry_time, self.clock.now())

    def pause(self, token: str, resume_at: datetime) -> None:
        with self._lock:
            purchase = self._sub(token)
            purchase.state = "SUBSCRIPTION_STATE_PAUSED"
            purchase.auto_resume_time = resume_at

    def resume(self, token: str) -> str:
        """The pause ends (automatically or by the user) and the renewal charge succeeds:
        the billing date moves to the resume. Returns the new order id."""
        with self._lock:
            return self._restart_billing(self._sub(token), self.clock.now())

    def defer(self, token: str, by: timedelta) -> datetime:
        with self._lock:
            purchase = self._sub(token)
            purchase.expiry_time += by
            return purchase.expiry_time

    def change_price(
        self, token: str, new_price_micros: int, *, opt_in: bool = True
    ) -> PriceChange:
        """A new recurring price from the next renewal. An opt-in increase waits for the
        customer (OUTSTANDING until `confirm_price_change`); an opt-out one or a decrease
        is already agreed (CONFIRMED)."""
        with self._lock:
            purchase = self._sub(token)
            current = self._price(purchase)
            mode: Literal["PRICE_INCREASE", "OPT_OUT_PRICE_INCREASE", "PRICE_DECREASE"]
            if new_price_micros < current:
                mode = "PRICE_DECREASE"
            else:
                mode = "PRICE_INCREASE" if opt_in else "OPT_OUT_PRICE_INCREASE"
            purchase.price_change = PriceChange(
                new_price_micros=new_price_micros,
                mode=mode,
                state="OUTSTANDING" if mode == "PRICE_INCREASE" else "CONFIRMED",
                expected_charge_time=purchase.expiry_time,
            )
            return purchase.price_change

    def confirm_price_change(self, token: str) -> None:
        with self._lock:
            change = self._sub(token).price_change
            if change is None or change.state != "OUTSTANDING":
                raise ValueError("there is no price change waiting for consent")
            change.state = "CONFIRMED"

    def defer_replacement(self, token: str, product_id: str) -> None:
        """A downgrade that takes effect at the next renewal."""
        with self._lock:
            self._sub(token).deferred_product_id = product_id

    def replace(
        self,
        old_token: str,
        product_id: str,
        base_plan_id: str,
        offer_id: str | None = None,
        mode: str = "CHARGE_FULL_PRICE",
    ) -> str:
        """A replacement (upgrade/downgrade/crossgrade) taking effect now: a new token linked
        to the old one, which ends with a replacement cancellation."""
        with self._lock:
            old = self._sub(old_token)
            token = self.purchase(
                product_id,
                base_plan_id,
                offer_id,
                account_id=old.account_id,
                profile_id=old.profile_id,
                test=old.test,
                linked_token=old_token,
                replacement={
                    "productId": old.product_id,
                    "basePlanId": old.base_plan_id,
                    "replacementMode": mode,
                },
            )
            old.state, old.auto_renew = "SUBSCRIPTION_STATE_EXPIRED", False
            old.cancelled_by, old.cancel_time = "replacement", self.clock.now()
            old.expiry_time = self.clock.now()
            old.deferred_product_id = None
            return token

    def revoke(self, token: str) -> str:
        """purchases.subscriptionsv2.revoke: refund the latest order and end access now."""
        with self._lock:
            purchase = self._sub(token)
            order = purchase.orders[-1]
            self._void(purchase.token, order.order_id, order.starts_at, 0, 1, True)
            purchase.state, purchase.auto_renew = "SUBSCRIPTION_STATE_EXPIRED", False
            purchase.cancelled_by, purchase.cancel_time = "developer", self.clock.now()
            purchase.expiry_time = self.clock.now()
            return order.order_id

    def refund(
        self, token: str, order_id: str | None = None, reason: int = 1, source: int = 0
    ) -> str:
        """A refund or chargeback of one order (the latest by default), as Google voids it."""
        with self._lock:
            if token in self.subscriptions:
                purchase = self._sub(token)
                order = next(
                    (o for o in purchase.orders if o.order_id == order_id), purchase.orders[-1]
                )
                self._void(token, order.order_id, order.starts_at, reason, source, True)
                return order.order_id
            product = self.products[token]
            product.purchase_state = 1
            self._void(token, product.order_id, product.purchase_time, reason, source, False)
            return product.order_id

    def forget(self, token: str) -> None:
        """Google stops answering for the token (as 60 days after expiry)."""
        with self._lock:
            self.forgotten.add(token)

    def acknowledge_subscription(self, token: str) -> None:
        with self._lock:
            self._sub(token).acknowledged = True

    # -- one-time products ----------------------------------------------------------------

    def buy(
        self,
        product_id: str,
        *,
        account_id: str | None = None,
        test: bool = False,
        pending: bool = False,
    ) -> str:
        with self._lock:
            token = self._token()
            self.products[token] = ProductPurchase(
                token=token,
                product_id=product_id,
                order_id=self._order_id(),
                purchase_time=self.clock.now(),
                purchase_state=2 if pending else 0,
                test=test,
                account_id=account_id,
            )
            return token

    def set_product_state(self, token: str, purchase_state: int) -> None:
        with self._lock:
            self.products[token].purchase_state = purchase_state

    # -- rendering (Google's JSON) --------------------------------------------------------

    def is_gone(self, token: str) -> bool:
        with self._lock:
            if token in self.forgotten:
                return True
            purchase = self.subscriptions.get(token)
            return (
                purchase is not None
                and purchase.state == "SUBSCRIPTION_STATE_EXPIRED"
                and self.clock.now() > purchase.expiry_time + TOKEN_RETENTION
            )

    def subscription_resource(self, token: str) -> dict[str, Any] | None:
        with self._lock:
            purchase = self.subscriptions.get(token)
            if purchase is None:
                return None
            return _subscription_json(
                purchase, self._products.get(purchase.product_id), self._price(purchase)
            )

    def product_resource(self, product_id: str, token: str) -> dict[str, Any] | None:
        with self._lock:
            purchase = self.products.get(token)
            if purchase is None or purchase.product_id != product_id:
                return None
            resource: dict[str, Any] = {
                "kind": "androidpublisher#productPurchase",
                "purchaseTimeMillis": str(_millis(purchase.purchase_time)),
                "purchaseState": purchase.purchase_state,
                "consumptionState": 1 if purchase.consumed else 0,
                "orderId": purchase.order_id,
                "acknowledgementState": 1 if purchase.acknowledged else 0,
                "productId": purchase.product_id,
                "regionCode": purchase.region_code,
                "quantity": 1,
            }
            if purchase.test:
                resource["purchaseType"] = 0
            if purchase.account_id:
                resource["obfuscatedExternalAccountId"] = purchase.account_id
            return resource

    def voided_resources(
        self, start: datetime, end: datetime, include_subscriptions: bool
    ) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {
                    "kind": "androidpublisher#voidedPurchase",
                    "purchaseToken": v.token,
                    "orderId": v.order_id,
                    "purchaseTimeMillis": str(_millis(v.purchase_time)),
                    "voidedTimeMillis": str(_millis(v.voided_time)),
                    "voidedReason": v.voided_reason,
                    "voidedSource": v.voided_source,
                }
                for v in self.voided
                if start <= v.voided_time <= end and (include_subscriptions or not v.subscription)
            ]

    def catalog_resource(self, product_id: str) -> dict[str, Any] | None:
        with self._lock:
            product = self._products.get(product_id)
            if product is None:
                return None
            plans: list[dict[str, Any]] = []
            for plan in product.base_plans.values():
                kind: dict[str, Any] = {"billingPeriodDuration": plan.billing_period}
                if plan.prepaid:
                    plans.append(
                        {
                            "basePlanId": plan.base_plan_id,
                            "state": "ACTIVE",
                            "prepaidBasePlanType": kind,
                        }
                    )
                    continue
                if plan.grace_period is not None:
                    kind["gracePeriodDuration"] = plan.grace_period
                if plan.account_hold is not None:
                    kind["accountHoldDuration"] = plan.account_hold
                plans.append(
                    {
                        "basePlanId": plan.base_plan_id,
                        "state": "ACTIVE",
                        "autoRenewingBasePlanType": kind,
                        "regionalConfigs": [
                            {
                                "regionCode": "US",
                                "newSubscriberAvailability": True,
                                "price": money(plan.price_micros, plan.currency),
                            }
                        ],
                    }
                )
            return {
                "packageName": self.package_name,
                "productId": product_id,
                "basePlans": plans,
                "listings": [{"languageCode": "en-US", "title": product_id}],
            }

    def offer_resource(
        self, product_id: str, base_plan_id: str, offer_id: str
    ) -> dict[str, Any] | None:
        with self._lock:
            product = self._products.get(product_id)
            offer = product.offers.get((base_plan_id, offer_id)) if product else None
            if offer is None:
                return None
            return {
                "packageName": self.package_name,
                "productId": product_id,
                "basePlanId": base_plan_id,
                "offerId": offer_id,
                "state": "ACTIVE",
                "phases": [
                    {
                        "duration": phase.duration,
                        "recurrenceCount": phase.recurrence_count,
                        "regionalConfigs": [
                            {"regionCode": "US", "free": {}}
                            if phase.free
                            else {"regionCode": "US", "relativeDiscount": 0.5}
                        ],
                    }
                    for phase in offer.phases
                ],
                "regionalConfigs": [{"regionCode": "US", "newSubscriberAvailability": True}],
            }

    # -- internals ------------------------------------------------------------------------

    def _sub(self, token: str) -> SubscriptionPurchase:
        return self.subscriptions[token]

    def _plan(self, product_id: str, base_plan_id: str) -> BasePlan:
        return self._products[product_id].base_plans[base_plan_id]

    def _token(self) -> str:
        # Real tokens are long opaque strings; these are URL-safe and just as opaque.
        return secrets.token_urlsafe(48)

    def _order_id(self) -> str:
        digits = "".join(str(self._rng.randrange(10)) for _ in range(17))
        return f"GPA.{digits[:4]}-{digits[4:8]}-{digits[8:12]}-{digits[12:]}"

    def _phase(self, purchase: SubscriptionPurchase) -> tuple[str, str]:
        if purchase.phase_index is not None and purchase.offer_id is not None:
            offer = self._products[purchase.product_id].offers[
                (purchase.base_plan_id, purchase.offer_id)
            ]
            phase = offer.phases[purchase.phase_index]
            name = "freeTrial" if phase.free else "introductoryPrice"
            return name, phase.duration
        plan = self._plan(purchase.product_id, purchase.base_plan_id)
        return "basePrice", plan.billing_period

    def _advance_phase(self, purchase: SubscriptionPurchase) -> None:
        if purchase.phase_index is None or purchase.offer_id is None:
            return
        purchase.recurrences_left -= 1
        if purchase.recurrences_left > 0:
            return
        offer = self._products[purchase.product_id].offers[
            (purchase.base_plan_id, purchase.offer_id)
        ]
        following = purchase.phase_index + 1
        if following < len(offer.phases):
            purchase.phase_index = following
            purchase.recurrences_left = offer.phases[following].recurrence_count
        else:
            purchase.phase_index = None

    def _price(self, purchase: SubscriptionPurchase) -> int:
        if purchase.price_micros is not None:
            return purchase.price_micros
        return self._plan(purchase.product_id, purchase.base_plan_id).price_micros

    def _settle_price(self, purchase: SubscriptionPurchase) -> None:
        """At a renewal: an agreed price change applies now; an applied one is done."""
        change = purchase.price_change
        if change is None:
            return
        if change.state == "APPLIED":
            purchase.price_change = None
        elif change.state == "CONFIRMED":
            purchase.price_micros = change.new_price_micros
            change.state = "APPLIED"

    def _restart_billing(self, purchase: SubscriptionPurchase, start: datetime) -> str:
        self._advance_phase(purchase)
        self._settle_price(purchase)
        order = self._new_order(purchase, start)
        purchase.state, purchase.paid_end = "SUBSCRIPTION_STATE_ACTIVE", None
        purchase.auto_resume_time = None
        return order.order_id

    def _new_order(self, purchase: SubscriptionPurchase, start: datetime) -> Order:
        phase, duration = self._phase(purchase)
        if purchase.orders:
            order_id = f"{purchase.base_order_id}..{len(purchase.orders) - 1}"
        else:
            order_id = self._order_id()
        order = Order(
            order_id=order_id, starts_at=start, ends_at=periods.add(start, duration), phase=phase
        )
        purchase.orders.append(order)
        purchase.expiry_time = order.ends_at
        purchase.auto_renew = True
        return order

    def _void(
        self,
        token: str,
        order_id: str,
        purchase_time: datetime,
        reason: int,
        source: int,
        subscription: bool,
    ) -> None:
        self.voided.append(
            VoidedPurchase(
                token=token,
                order_id=order_id,
                purchase_time=purchase_time,
                voided_time=self.clock.now(),
                voided_reason=reason,
                voided_source=source,
                subscription=subscription,
            )
        )


def money(micros: int, currency: str) -> dict[str, Any]:
    """A google.type.Money."""
    units, nanos = divmod(micros, 1_000_000)
    return {"currencyCode": currency, "units": str(units), "nanos": nanos * 1000}


def _subscription_json(
    purchase: SubscriptionPurchase, product: SubscriptionProduct | None, price_micros: int
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "productId": purchase.product_id,
        "expiryTime": _rfc3339(purchase.expiry_time),
        "offerDetails": {"basePlanId": purchase.base_plan_id, "offerTags": []},
    }
    plan = product.base_plans.get(purchase.base_plan_id) if product else None
    if plan is not None and plan.prepaid:
        item["prepaidPlan"] = {}
    else:
        currency = plan.currency if plan is not None else "USD"
        item["autoRenewingPlan"] = {
            "autoRenewEnabled": purchase.auto_renew,
            "recurringPrice": money(price_micros, currency),
        }
        change = purchase.price_change
        if change is not None:
            item["autoRenewingPlan"]["priceChangeDetails"] = {
                "newPrice": money(change.new_price_micros, currency),
                "priceChangeMode": change.mode,
                "priceChangeState": change.state,
                "expectedNewPriceChargeTime": _rfc3339(change.expected_charge_time),
            }
    if purchase.offer_id:
        item["offerDetails"]["offerId"] = purchase.offer_id
    if purchase.orders:
        item["latestSuccessfulOrderId"] = purchase.orders[-1].order_id
        item["offerPhase"] = {purchase.orders[-1].phase: {}}
    if purchase.replacement:
        item["itemReplacement"] = dict(purchase.replacement)
    if purchase.deferred_product_id:
        item["deferredItemReplacement"] = {"productId": purchase.deferred_product_id}
    resource: dict[str, Any] = {
        "kind": "androidpublisher#subscriptionPurchaseV2",
        "regionCode": purchase.region_code,
        "subscriptionState": purchase.state,
        "acknowledgementState": "ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED"
        if purchase.acknowledged
        else "ACKNOWLEDGEMENT_STATE_PENDING",
        "lineItems": [item],
        "etag": f"etag-{len(purchase.orders)}-{purchase.state}",
    }
    if purchase.start_time is not None:
        resource["startTime"] = _rfc3339(purchase.start_time)
    if purchase.linked_token:
        resource["linkedPurchaseToken"] = purchase.linked_token
    if purchase.test:
        resource["testPurchase"] = {}
    if purchase.account_id or purchase.profile_id:
        identifiers = {}
        if purchase.account_id:
            identifiers["obfuscatedExternalAccountId"] = purchase.account_id
        if purchase.profile_id:
            identifiers["obfuscatedExternalProfileId"] = purchase.profile_id
        resource["externalAccountIdentifiers"] = identifiers
    terminal = ("SUBSCRIPTION_STATE_CANCELED", "SUBSCRIPTION_STATE_EXPIRED")
    if purchase.state in terminal and purchase.cancelled_by is not None:
        context: dict[str, Any] = {}
        if purchase.cancelled_by == "user":
            context["cancelTime"] = _rfc3339(purchase.cancel_time or purchase.expiry_time)
        resource["canceledStateContext"] = {_CANCEL_CONTEXT[purchase.cancelled_by]: context}
    if purchase.state == "SUBSCRIPTION_STATE_PAUSED" and purchase.auto_resume_time:
        resource["pausedStateContext"] = {"autoResumeTime": _rfc3339(purchase.auto_resume_time)}
    return resource


def _rfc3339(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M:%S.") + f"{instant.microsecond // 1000:03d}Z"


def _millis(instant: datetime) -> int:
    return int(instant.timestamp() * 1000)
