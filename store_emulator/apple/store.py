"""`AppleStore`: the emulated App Store's state, and the events that change it.

The state is explicit (products, subscriptions with their transactions and renewal
preferences, one-time purchases, the notification history, receipts known to
verifyReceipt), every instant comes from the injected clock, and each life-cycle verb
(subscribe, renew, fail_renewal, expire, refund, ...) changes the state the way the App
Store does and returns the signed Notifications V2 payload it would send (and hands it to
the `listeners`, which is how the emulator delivers it).

Amounts are Apple milliunits (9990 = 9.99); dates are aware UTC datetimes here and epoch
milliseconds in the signed payloads. Periods are ISO 8601 durations added the calendar way
("P1M": same day next month) or fixed `timedelta`s.

What the time-driven side adds (`store_emulator.apple.lifecycle`): the customer's payment
method, when each verb happens, and the family members a purchase is shared with.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from store_emulator import periods
from store_emulator.apple.signer import JwsSigner

AppleEnvironment = Literal["Production", "Sandbox"]


class Clock(Protocol):
    """Where the store's time comes from (`store_emulator.clock.VirtualClock` in practice)."""

    def now(self) -> datetime: ...


ProductKind = Literal["auto_renewable", "non_consumable", "consumable", "non_renewing"]

APPLE_TYPES: dict[ProductKind, str] = {
    "auto_renewable": "Auto-Renewable Subscription",
    "non_consumable": "Non-Consumable",
    "consumable": "Consumable",
    "non_renewing": "Non-Renewing Subscription",
}

ACTIVE, EXPIRED, BILLING_RETRY, GRACE_PERIOD, REVOKED = 1, 2, 3, 4, 5


def millis(instant: datetime | None) -> int | None:
    return None if instant is None else int(instant.timestamp() * 1000)


class UnknownPurchase(LookupError):
    """No transaction, subscription or product with that id."""


@dataclass(frozen=True)
class Product:
    product_id: str
    kind: ProductKind
    price: int
    currency: str = "USD"
    period: periods.Duration | None = None  # auto-renewable subscriptions only
    group: str | None = None  # subscription group identifier
    # Rank inside the group: a higher level is an upgrade (takes effect at once); the same
    # or a lower one (a crossgrade or a downgrade) waits for the next renewal.
    level: int = 1
    # Introductory offers for new subscribers of the group: a free trial of this length, or
    # `intro_periods` periods at `intro_price` (pay as you go).
    trial: periods.Duration | None = None
    intro_price: int | None = None
    intro_periods: int = 1


@dataclass
class Transaction:
    transaction_id: str
    original_transaction_id: str
    product: Product
    purchase_date: datetime
    original_purchase_date: datetime
    expires_date: datetime | None
    environment: AppleEnvironment
    customer: str
    order_id: str
    transaction_reason: Literal["PURCHASE", "RENEWAL"] = "PURCHASE"
    web_order_line_item_id: str | None = None
    app_account_token: str | None = None
    price: int | None = None
    offer_type: int | None = None
    offer_discount_type: str | None = None
    offer_identifier: str | None = None
    ownership: Literal["PURCHASED", "FAMILY_SHARED"] = "PURCHASED"
    revocation_date: datetime | None = None
    revocation_reason: int | None = None
    is_upgraded: bool = False
    storefront: str = "USA"

    def payload(self, bundle_id: str, signed_date: datetime) -> dict[str, Any]:
        """The JWSTransactionDecodedPayload Apple would sign now."""
        payload: dict[str, Any] = {
            "transactionId": self.transaction_id,
            "originalTransactionId": self.original_transaction_id,
            "bundleId": bundle_id,
            "productId": self.product.product_id,
            "purchaseDate": millis(self.purchase_date),
            "originalPurchaseDate": millis(self.original_purchase_date),
            "quantity": 1,
            "type": APPLE_TYPES[self.product.kind],
            "inAppOwnershipType": self.ownership,
            "signedDate": millis(signed_date),
            "environment": self.environment,
            "transactionReason": self.transaction_reason,
            "storefront": self.storefront,
            "storefrontId": "143441",
            "price": self.product.price if self.price is None else self.price,
            "currency": self.product.currency,
        }
        optional = {
            "webOrderLineItemId": self.web_order_line_item_id,
            "subscriptionGroupIdentifier": self.product.group,
            "expiresDate": millis(self.expires_date),
            "appAccountToken": self.app_account_token,
            "offerType": self.offer_type,
            "offerDiscountType": self.offer_discount_type,
            "offerIdentifier": self.offer_identifier,
            "revocationDate": millis(self.revocation_date),
            "revocationReason": self.revocation_reason,
        }
        payload.update({k: v for k, v in optional.items() if v is not None})
        if self.is_upgraded:
            payload["isUpgraded"] = True
        return payload


@dataclass
class Subscription:
    """One auto-renewable subscription (one group, one originalTransactionId)."""

    original_transaction_id: str
    customer: str
    environment: AppleEnvironment
    product: Product
    transactions: list[Transaction] = field(default_factory=list)
    status: int = ACTIVE
    auto_renew: bool = True
    auto_renew_product: Product | None = None
    grace_period_expires: datetime | None = None
    expiration_intent: int | None = None
    app_account_token: str | None = None
    ownership: Literal["PURCHASED", "FAMILY_SHARED"] = "PURCHASED"
    # A family member's access: the purchaser's originalTransactionId.
    family_of: str | None = None
    # The agreed recurring price (None: the product's), and renewals still at the intro price.
    price: int | None = None
    intro_renewals_left: int = 0
    # A price increase waiting for the next renewal, and whether the customer consented.
    pending_price: int | None = None
    price_consented: bool = False

    @property
    def latest(self) -> Transaction:
        return self.transactions[-1]

    @property
    def expires(self) -> datetime:
        expires = self.latest.expires_date
        assert expires is not None
        return expires

    def next_price(self) -> int:
        """What the next renewal charges."""
        if self.auto_renew_product is not None and self.auto_renew_product != self.product:
            return self.auto_renew_product.price
        if self.intro_renewals_left > 0 and self.product.intro_price is not None:
            return self.product.intro_price
        if self.pending_price is not None:
            return self.pending_price
        return self.product.price if self.price is None else self.price

    def renewal_payload(self, signed_date: datetime) -> dict[str, Any]:
        """The JWSRenewalInfoDecodedPayload Apple would sign now."""
        renewal = self.auto_renew_product or self.product
        payload: dict[str, Any] = {
            "originalTransactionId": self.original_transaction_id,
            "productId": self.product.product_id,
            "autoRenewProductId": renewal.product_id,
            "autoRenewStatus": 1 if self.auto_renew else 0,
            "signedDate": millis(signed_date),
            "environment": self.environment,
            "recentSubscriptionStartDate": millis(self.transactions[0].purchase_date),
            "renewalDate": millis(self.expires),
            "renewalPrice": self.next_price(),
            "currency": renewal.currency,
            "isInBillingRetryPeriod": self.status in (BILLING_RETRY, GRACE_PERIOD),
        }
        if self.grace_period_expires is not None and self.status == GRACE_PERIOD:
            payload["gracePeriodExpiresDate"] = millis(self.grace_period_expires)
        if self.expiration_intent is not None:
            payload["expirationIntent"] = self.expiration_intent
        if self.app_account_token is not None:
            payload["appAccountToken"] = self.app_account_token
        if self.pending_price is not None:
            # 0: the customer has not answered yet; 1: consented (or none was needed).
            payload["priceIncreaseStatus"] = 1 if self.price_consented else 0
        return payload


@dataclass(frozen=True)
class Notification:
    """A notification as sent: its signed payload and what it was about."""

    notification_uuid: str
    notification_type: str
    subtype: str | None
    signed_date: datetime
    environment: AppleEnvironment
    signed_payload: str
    transaction_id: str | None = None
    original_transaction_id: str | None = None

    @property
    def body(self) -> dict[str, str]:
        """The HTTP body the App Store POSTs."""
        return {"signedPayload": self.signed_payload}


@dataclass(frozen=True)
class KnownReceipt:
    """A receipt verifyReceipt recognises, and the body it answers for it."""

    environment: AppleEnvironment
    body: dict[str, Any]


class AppleStore:
    def __init__(
        self,
        *,
        clock: Clock,
        signer: JwsSigner,
        bundle_id: str,
        app_apple_id: int | None = None,
        bundle_version: str = "1",
        environment: AppleEnvironment = "Sandbox",
    ) -> None:
        self.clock = clock
        self.signer = signer
        self.bundle_id = bundle_id
        self.app_apple_id = app_apple_id
        self.bundle_version = bundle_version
        self.default_environment: AppleEnvironment = environment
        self.products: dict[str, Product] = {}
        self.subscriptions: dict[str, Subscription] = {}
        self.purchases: list[Transaction] = []  # one-time purchases
        self.notifications: list[Notification] = []
        self.receipts: dict[str, KnownReceipt] = {}
        self.test_notifications: dict[str, Notification] = {}
        # notificationUUID -> (attempt date, sendAttemptResult), as Get Notification History
        # reports them; filled by whoever delivers the notifications.
        self.send_attempts: dict[str, list[tuple[datetime, str]]] = {}
        # Called with every notification the store creates (the deliverer listens here).
        self.listeners: list[Callable[[Notification], None]] = []
        self.lock = threading.RLock()
        self._counter = 0

    # -- catalogue ------------------------------------------------------------------------

    def add_product(self, product: Product) -> Product:
        if product.kind == "auto_renewable" and (product.period is None or product.group is None):
            raise ValueError("an auto-renewable product needs a period and a group")
        self.products[product.product_id] = product
        return product

    def product(self, product_id: str) -> Product:
        try:
            return self.products[product_id]
        except KeyError:
            raise UnknownPurchase(f"no product {product_id}") from None

    # -- life-cycle verbs (each returns the notification Apple would send) ----------------

    def subscribe(
        self,
        product_id: str,
        *,
        customer: str | None = None,
        environment: AppleEnvironment | None = None,
        app_account_token: str | None = None,
        offer_type: int | None = None,
        offer_discount_type: str | None = None,
        price: int | None = None,
        notification_type: str = "SUBSCRIBED",
        offer: Literal["trial", "intro"] | None = None,
        family_of: str | None = None,
        expires: datetime | None = None,
    ) -> Notification:
        """A first purchase in the group (INITIAL_BUY) or a resubscription after expiry.

        `offer` redeems the product's introductory offer (new subscribers of the group only);
        `family_of` gives a family member access to that purchaser's subscription, ending
        when it does (`expires`)."""
        with self.lock:
            product = self.product(product_id)
            if product.kind != "auto_renewable" or product.period is None:
                raise ValueError(f"{product_id} is not an auto-renewable subscription")
            env = environment or self.default_environment
            now = self.clock.now()
            customer = customer or self._next("customer-")
            existing = self._subscription_in_group(customer, env, product.group)
            if existing is not None and existing.status in (ACTIVE, GRACE_PERIOD, BILLING_RETRY):
                raise ValueError("the customer already has an active subscription in the group")
            period: periods.Duration = product.period
            intro_renewals = 0
            if offer is not None:
                if existing is not None:
                    raise ValueError("introductory offers are for new subscribers of the group")
                offer_type = 1
                if offer == "trial":
                    if product.trial is None:
                        raise ValueError(f"{product_id} has no free trial")
                    offer_discount_type, price, period = "FREE_TRIAL", 0, product.trial
                else:
                    if product.intro_price is None:
                        raise ValueError(f"{product_id} has no introductory price")
                    offer_discount_type, price = "PAY_AS_YOU_GO", product.intro_price
                    intro_renewals = product.intro_periods - 1
            if existing is None:
                original = self._next_transaction_id()
                subscription = Subscription(
                    original_transaction_id=original,
                    customer=customer,
                    environment=env,
                    product=product,
                    app_account_token=app_account_token,
                    ownership="FAMILY_SHARED" if family_of else "PURCHASED",
                    family_of=family_of,
                )
                self.subscriptions[original] = subscription
                transaction_id, subtype = original, "INITIAL_BUY"
                original_date = now
            else:
                subscription = existing
                transaction_id, subtype = self._next_transaction_id(), "RESUBSCRIBE"
                original_date = subscription.transactions[0].original_purchase_date
                subscription.product = product
            subscription.status = ACTIVE
            subscription.auto_renew = True
            subscription.auto_renew_product = None
            subscription.expiration_intent = None
            subscription.grace_period_expires = None
            subscription.app_account_token = app_account_token or subscription.app_account_token
            subscription.price = None
            subscription.intro_renewals_left = intro_renewals
            subscription.pending_price = None
            subscription.price_consented = False
            transaction = Transaction(
                transaction_id=transaction_id,
                original_transaction_id=subscription.original_transaction_id,
                product=product,
                purchase_date=now,
                original_purchase_date=original_date,
                expires_date=expires or periods.add(now, period),
                environment=env,
                customer=customer,
                order_id=self._next("MQ"),
                web_order_line_item_id=self._next_transaction_id(),
                app_account_token=subscription.app_account_token,
                price=price,
                offer_type=offer_type,
                offer_discount_type=offer_discount_type,
                ownership=subscription.ownership,
            )
            subscription.transactions.append(transaction)
            return self._notify(notification_type, subtype, subscription, transaction)

    def renew(
        self,
        original_transaction_id: str,
        *,
        price: int | None = None,
        expires: datetime | None = None,
    ) -> Notification:
        """The next period is paid (BILLING_RECOVERY after a billing problem), at the price
        `next_price` says unless `price` is given; a family member's ends at `expires`."""
        with self.lock:
            subscription = self.subscription(original_transaction_id)
            recovering = subscription.status in (BILLING_RETRY, GRACE_PERIOD)
            product = subscription.auto_renew_product or subscription.product
            assert product.period is not None
            now = self.clock.now()
            charged = subscription.next_price() if price is None else price
            intro = product == subscription.product and subscription.intro_renewals_left > 0
            # Recovered in billing retry, a new period starts now; recovered during grace,
            # the renewal date is kept (the customer had access meanwhile).
            start = now if subscription.status == BILLING_RETRY else subscription.expires
            transaction = Transaction(
                transaction_id=self._next_transaction_id(),
                original_transaction_id=subscription.original_transaction_id,
                product=product,
                purchase_date=start,
                original_purchase_date=subscription.transactions[0].original_purchase_date,
                expires_date=expires or periods.add(start, product.period),
                environment=subscription.environment,
                customer=subscription.customer,
                order_id=self._next("MQ"),
                transaction_reason="RENEWAL",
                web_order_line_item_id=self._next_transaction_id(),
                app_account_token=subscription.app_account_token,
                price=charged,
                offer_type=1 if intro else None,
                offer_discount_type="PAY_AS_YOU_GO" if intro else None,
                ownership=subscription.ownership,
            )
            subscription.transactions.append(transaction)
            if product != subscription.product:
                subscription.price, subscription.intro_renewals_left = None, 0
                subscription.pending_price, subscription.price_consented = None, False
            elif intro:
                subscription.intro_renewals_left -= 1
            elif subscription.pending_price is not None and subscription.price_consented:
                subscription.price = subscription.pending_price
                subscription.pending_price, subscription.price_consented = None, False
            subscription.product = product
            subscription.auto_renew_product = None
            subscription.status = ACTIVE
            subscription.grace_period_expires = None
            subscription.expiration_intent = None
            return self._notify(
                "DID_RENEW",
                "BILLING_RECOVERY" if recovering else None,
                subscription,
                transaction,
            )

    def fail_renewal(
        self, original_transaction_id: str, *, grace_period: timedelta | None = None
    ) -> Notification:
        """Billing failed at renewal: billing retry, in a grace period if one is given."""
        with self.lock:
            subscription = self.subscription(original_transaction_id)
            subscription.expiration_intent = 2
            if grace_period is not None:
                subscription.status = GRACE_PERIOD
                subscription.grace_period_expires = subscription.expires + grace_period
                subtype: str | None = "GRACE_PERIOD"
            else:
                subscription.status = BILLING_RETRY
                subtype = None
            return self._notify("DID_FAIL_TO_RENEW", subtype, subscription, subscription.latest)

    def end_grace_period(self, original_transaction_id: str) -> Notification:
        with self.lock:
            subscription = self.subscription(original_transaction_id)
            subscription.status = BILLING_RETRY
            return self._notify("GRACE_PERIOD_EXPIRED", None, subscription, subscription.latest)

    def expire(self, original_transaction_id: str, *, subtype: str = "VOLUNTARY") -> Notification:
        with self.lock:
            subscription = self.subscription(original_transaction_id)
            subscription.status = EXPIRED
            subscription.grace_period_expires = None
            subscription.expiration_intent = {
                "VOLUNTARY": 1,
                "BILLING_RETRY": 2,
                "PRICE_INCREASE": 3,
                "PRODUCT_NOT_FOR_SALE": 4,
            }.get(subtype, 5)
            if subtype == "VOLUNTARY":
                subscription.auto_renew = False
            return self._notify("EXPIRED", subtype, subscription, subscription.latest)

    def set_auto_renew(self, original_transaction_id: str, enabled: bool) -> Notification:
        with self.lock:
            subscription = self.subscription(original_transaction_id)
            subscription.auto_renew = enabled
            return self._notify(
                "DID_CHANGE_RENEWAL_STATUS",
                "AUTO_RENEW_ENABLED" if enabled else "AUTO_RENEW_DISABLED",
                subscription,
                subscription.latest,
            )

    def change_product(self, original_transaction_id: str, product_id: str) -> Notification:
        """An upgrade takes effect now (a new period, the old one marked upgraded); a
        downgrade or crossgrade to a lower level waits for the next renewal."""
        with self.lock:
            subscription = self.subscription(original_transaction_id)
            product = self.product(product_id)
            if product.group != subscription.product.group or product.period is None:
                raise ValueError("products of another group cannot replace a subscription")
            if product.level <= subscription.product.level:
                subscription.auto_renew_product = (
                    None if product == subscription.product else product
                )
                subtype = "DOWNGRADE" if subscription.auto_renew_product is not None else None
                return self._notify(
                    "DID_CHANGE_RENEWAL_PREF", subtype, subscription, subscription.latest
                )
            now = self.clock.now()
            previous = subscription.latest
            previous.is_upgraded = True
            previous.revocation_date = now
            transaction = Transaction(
                transaction_id=self._next_transaction_id(),
                original_transaction_id=subscription.original_transaction_id,
                product=product,
                purchase_date=now,
                original_purchase_date=previous.original_purchase_date,
                expires_date=periods.add(now, product.period),
                environment=subscription.environment,
                customer=subscription.customer,
                order_id=self._next("MQ"),
                web_order_line_item_id=self._next_transaction_id(),
                app_account_token=subscription.app_account_token,
                ownership=subscription.ownership,
            )
            subscription.transactions.append(transaction)
            subscription.product = product
            subscription.auto_renew_product = None
            subscription.price, subscription.intro_renewals_left = None, 0
            subscription.pending_price, subscription.price_consented = None, False
            return self._notify("DID_CHANGE_RENEWAL_PREF", "UPGRADE", subscription, transaction)

    def extend(self, original_transaction_id: str, days: int) -> Notification:
        with self.lock:
            subscription = self.subscription(original_transaction_id)
            latest = subscription.latest
            assert latest.expires_date is not None
            latest.expires_date += timedelta(days=days)
            return self._notify("RENEWAL_EXTENDED", None, subscription, latest)

    def buy(
        self,
        product_id: str,
        *,
        customer: str | None = None,
        environment: AppleEnvironment | None = None,
        app_account_token: str | None = None,
    ) -> Notification:
        """A consumable, non-consumable or non-renewing purchase (ONE_TIME_CHARGE)."""
        with self.lock:
            product = self.product(product_id)
            if product.kind == "auto_renewable":
                raise ValueError("use subscribe() for auto-renewable subscriptions")
            now = self.clock.now()
            transaction_id = self._next_transaction_id()
            transaction = Transaction(
                transaction_id=transaction_id,
                original_transaction_id=transaction_id,
                product=product,
                purchase_date=now,
                original_purchase_date=now,
                expires_date=None,
                environment=environment or self.default_environment,
                customer=customer or self._next("customer-"),
                order_id=self._next("MQ"),
                app_account_token=app_account_token,
            )
            self.purchases.append(transaction)
            return self._notify("ONE_TIME_CHARGE", None, None, transaction)

    def refund(self, transaction_id: str, *, reason: int = 0) -> Notification:
        """Apple refunds one transaction; refunding a subscription's latest revokes it."""
        with self.lock:
            transaction = self.transaction(transaction_id)
            transaction.revocation_date = self.clock.now()
            transaction.revocation_reason = reason
            subscription = self.subscriptions.get(transaction.original_transaction_id)
            if subscription is not None and subscription.latest is transaction:
                subscription.status = REVOKED
            return self._notify("REFUND", None, subscription, transaction)

    def reverse_refund(self, transaction_id: str) -> Notification:
        with self.lock:
            transaction = self.transaction(transaction_id)
            transaction.revocation_date = None
            transaction.revocation_reason = None
            subscription = self.subscriptions.get(transaction.original_transaction_id)
            if (
                subscription is not None
                and subscription.latest is transaction
                and subscription.status == REVOKED
            ):
                subscription.status = ACTIVE if subscription.expires > self.clock.now() else EXPIRED
            return self._notify("REFUND_REVERSED", None, subscription, transaction)

    def increase_price(
        self, original_transaction_id: str, price: int, *, consent_required: bool = True
    ) -> Notification:
        """A price increase for the next renewals: PENDING until the customer consents (or
        ACCEPTED at once when no consent is needed); unanswered, it expires the
        subscription at the renewal (EXPIRED PRICE_INCREASE)."""
        with self.lock:
            subscription = self.subscription(original_transaction_id)
            subscription.pending_price = price
            subscription.price_consented = not consent_required
            subtype = "PENDING" if consent_required else "ACCEPTED"
            return self._notify("PRICE_INCREASE", subtype, subscription, subscription.latest)

    def consent_to_price(self, original_transaction_id: str) -> Notification:
        with self.lock:
            subscription = self.subscription(original_transaction_id)
            if subscription.pending_price is None:
                raise ValueError("there is no price increase to consent to")
            subscription.price_consented = True
            return self._notify("PRICE_INCREASE", "ACCEPTED", subscription, subscription.latest)

    def revoke_family_access(self, original_transaction_id: str) -> Notification:
        """REVOKE: a family member loses access shared through Family Sharing (the purchaser
        stopped sharing, someone left the family, or the purchase was refunded)."""
        with self.lock:
            subscription = self.subscription(original_transaction_id)
            if subscription.family_of is None:
                raise ValueError("only family-shared access can be revoked this way")
            subscription.latest.revocation_date = self.clock.now()
            subscription.status = REVOKED
            subscription.auto_renew = False
            return self._notify("REVOKE", None, subscription, subscription.latest)

    def record_attempt(self, notification_uuid: str, at: datetime, result: str) -> None:
        """One delivery attempt, for Get Notification History's sendAttempts."""
        with self.lock:
            self.send_attempts.setdefault(notification_uuid, []).append((at, result))

    def request_test(self, environment: AppleEnvironment | None = None) -> tuple[str, Notification]:
        """Request a Test Notification: its token and the TEST notification."""
        with self.lock:
            env = environment or self.default_environment
            notification = self._notify_envelope("TEST", None, env, {})
            token = f"{self._next('test-')}_{notification.notification_uuid}"
            self.test_notifications[token] = notification
            return token, notification

    def add_receipt(
        self, receipt_data: str, body: dict[str, Any], environment: AppleEnvironment
    ) -> None:
        """Teach verifyReceipt a receipt and the answer body for it (status added)."""
        with self.lock:
            self.receipts[receipt_data] = KnownReceipt(environment, body)

    # -- look-ups the API answers from ----------------------------------------------------

    def subscription(self, original_transaction_id: str) -> Subscription:
        try:
            return self.subscriptions[original_transaction_id]
        except KeyError:
            raise UnknownPurchase(f"no subscription {original_transaction_id}") from None

    def all_transactions(self) -> Iterator[Transaction]:
        for subscription in self.subscriptions.values():
            yield from subscription.transactions
        yield from self.purchases

    def transaction(self, transaction_id: str) -> Transaction:
        for transaction in self.all_transactions():
            if transaction.transaction_id == transaction_id:
                return transaction
        raise UnknownPurchase(f"no transaction {transaction_id}")

    def find(self, transaction_id: str, environment: AppleEnvironment) -> Transaction | None:
        with self.lock:
            for transaction in self.all_transactions():
                if (
                    transaction.transaction_id == transaction_id
                    and transaction.environment == environment
                ):
                    return transaction
            return None

    def customer_transactions(
        self, customer: str, environment: AppleEnvironment
    ) -> list[Transaction]:
        with self.lock:
            found = [
                t
                for t in self.all_transactions()
                if t.customer == customer and t.environment == environment
            ]
        return sorted(found, key=lambda t: (t.purchase_date, t.transaction_id))

    def customer_subscriptions(
        self, customer: str, environment: AppleEnvironment
    ) -> list[Subscription]:
        with self.lock:
            return [
                s
                for s in self.subscriptions.values()
                if s.customer == customer and s.environment == environment
            ]

    def signed_transaction(self, transaction: Transaction) -> str:
        return self.signer.sign(transaction.payload(self.bundle_id, self.clock.now()))

    def signed_renewal_info(self, subscription: Subscription) -> str:
        return self.signer.sign(subscription.renewal_payload(self.clock.now()))

    # -- internals ------------------------------------------------------------------------

    def _subscription_in_group(
        self, customer: str, environment: AppleEnvironment, group: str | None
    ) -> Subscription | None:
        for subscription in self.subscriptions.values():
            if (
                subscription.customer == customer
                and subscription.environment == environment
                and subscription.product.group == group
            ):
                return subscription
        return None

    def _next(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}{self._counter}"

    def _next_transaction_id(self) -> str:
        self._counter += 1
        return str(2_000_000_000_000_000 + self._counter)

    def _notify(
        self,
        notification_type: str,
        subtype: str | None,
        subscription: Subscription | None,
        transaction: Transaction,
    ) -> Notification:
        now = self.clock.now()
        data: dict[str, Any] = {
            "signedTransactionInfo": self.signer.sign(transaction.payload(self.bundle_id, now))
        }
        if subscription is not None:
            data["signedRenewalInfo"] = self.signer.sign(subscription.renewal_payload(now))
            data["status"] = subscription.status
        return self._notify_envelope(
            notification_type,
            subtype,
            transaction.environment,
            data,
            transaction.transaction_id,
            transaction.original_transaction_id,
        )

    def _notify_envelope(
        self,
        notification_type: str,
        subtype: str | None,
        environment: AppleEnvironment,
        data: dict[str, Any],
        transaction_id: str | None = None,
        original_transaction_id: str | None = None,
    ) -> Notification:
        now = self.clock.now()
        self._counter += 1
        notification_uuid = f"00000000-0000-4000-8000-{self._counter:012d}"
        envelope: dict[str, Any] = {
            "notificationType": notification_type,
            "notificationUUID": notification_uuid,
            "data": {
                "bundleId": self.bundle_id,
                "bundleVersion": self.bundle_version,
                "environment": environment,
                **data,
            },
            "version": "2.0",
            "signedDate": millis(now),
        }
        if subtype is not None:
            envelope["subtype"] = subtype
        if self.app_apple_id is not None:
            envelope["data"]["appAppleId"] = self.app_apple_id
        notification = Notification(
            notification_uuid=notification_uuid,
            notification_type=notification_type,
            subtype=subtype,
            signed_date=now,
            environment=environment,
            signed_payload=self.signer.sign(envelope),
            transaction_id=transaction_id,
            original_transaction_id=original_transaction_id,
        )
        self.notifications.append(notification)
        for listener in self.listeners:
            listener(notification)
        return notification
