"""`AppleGateway`: what the engine asks of the App Store, answered as `StoreRecord`s.

    gateway = build_apple_gateway(settings.apple, clock=clock, session=session, metrics=m)

It combines the verifier (trust), the API client (questions) and the normalizer (meaning):
every signed item of an API answer is verified like a webhook before it is normalized. It
implements `iap_engine.service.stores.AppleGateway` (`notifications`, `from_*`,
`original_ids_for_order`) and offers what jobs need (`subscription`, `customer`, `refunds`,
`notification_history`). Operations that need the App Store Server API raise
`NotConfigured` when its credentials are missing; verifying what the app or Apple sent us
never needs them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import requests

from iap_engine.domain import EventKind, ProductType, StoreRecord
from iap_engine.metrics import Metrics
from iap_engine.service.errors import NotConfigured
from iap_engine.service.ports import Clock
from iap_engine.service.purchases import Verified
from iap_engine.settings import AppleSettings
from store_adapters.apple.client import ApiEnvironment, AppStoreServerClient, api_environment
from store_adapters.apple.errors import (
    AppleApiRejected,
    AppleApiUnavailable,
    Reason,
    VerificationError,
)
from store_adapters.apple.jws import Json
from store_adapters.apple.normalize import (
    NotificationInfo,
    history_records,
    notification_info,
    notification_record,
    transaction_record,
)
from store_adapters.apple.notifications import AppleNotifications
from store_adapters.apple.receipt import parse_receipt
from store_adapters.apple.verify import SignedDataVerifier, VerifiedNotification

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AppleNotification:
    """A verified notification: what the inbox keeps, and the record when it has one."""

    info: NotificationInfo
    record: StoreRecord | None
    verified: VerifiedNotification


@dataclass(frozen=True, slots=True)
class SignedHistoryPage:
    """One page of Get Notification History as Apple sent it: nothing verified yet."""

    signed_payloads: tuple[str, ...]
    pagination_token: str | None
    has_more: bool


@dataclass(frozen=True, slots=True)
class HistoryItem:
    """One entry of Get Notification History; `error` when its payload failed verification."""

    signed_payload: str
    notification: AppleNotification | None
    error: VerificationError | None


@dataclass(frozen=True, slots=True)
class HistoryPage:
    items: tuple[HistoryItem, ...]
    pagination_token: str | None
    has_more: bool


class AppleGateway:
    def __init__(
        self, *, verifier: SignedDataVerifier, client: AppStoreServerClient | None = None
    ) -> None:
        self._verifier = verifier
        self._client = client
        self._notifications = AppleNotifications(self)

    @classmethod
    def from_settings(
        cls,
        settings: AppleSettings,
        *,
        session: requests.Session,
        clock: Clock,
        sleep: Callable[[float], None] = time.sleep,
        observe: Callable[[str], None] | None = None,
    ) -> AppleGateway:
        """Verifier always; API client when its credentials are configured."""
        verifier = SignedDataVerifier.from_settings(settings, clock)
        client: AppStoreServerClient | None
        try:
            client = AppStoreServerClient.from_settings(
                settings, session=session, clock=clock, sleep=sleep, observe=observe
            )
        except NotConfigured:
            client = None
        return cls(verifier=verifier, client=client)

    @property
    def verifier(self) -> SignedDataVerifier:
        return self._verifier

    @property
    def has_api(self) -> bool:
        """Whether App Store Server API credentials are configured."""
        return self._client is not None

    @property
    def notifications(self) -> AppleNotifications:
        return self._notifications

    @property
    def environments(self) -> tuple[ApiEnvironment, ...]:
        """The API environments the configuration accepts data from."""
        accepted = self._verifier.environments
        return tuple(e for e in ("Production", "Sandbox") if e in accepted)

    # -- what the app and Apple send us (no credentials needed) ---------------------------

    def notification(self, signed_payload: str) -> AppleNotification:
        """A webhook's (or history entry's) signedPayload, verified and normalized."""
        verified = self._verifier.verify_notification(signed_payload)
        return AppleNotification(
            info=notification_info(verified),
            record=notification_record(verified),
            verified=verified,
        )

    # -- questions to the App Store Server API --------------------------------------------

    def subscription(
        self, transaction_id: str, *, environment: ApiEnvironment | None = None
    ) -> list[StoreRecord]:
        """Get All Subscription Statuses: one REFRESHED record per subscription group."""
        answer = self._api().get_all_subscription_statuses(transaction_id, environment=environment)
        records = []
        for group in _list(answer.get("data")):
            for item in _list(group.get("lastTransactions")):
                transaction = self._verifier.verify_transaction(
                    _token(item.get("signedTransactionInfo"))
                )
                renewal_token = item.get("signedRenewalInfo")
                renewal = (
                    self._verifier.verify_renewal_info(_token(renewal_token))
                    if renewal_token is not None
                    else None
                )
                records.append(
                    transaction_record(transaction, renewal_info=renewal, status=item.get("status"))
                )
        return records

    def transaction(
        self, transaction_id: str, *, environment: ApiEnvironment | None = None
    ) -> list[StoreRecord]:
        """Get Transaction Info, completed by the subscription's status when it renews."""
        answer = self._api().get_transaction_info(transaction_id, environment=environment)
        transaction = self._verifier.verify_transaction(_token(answer.get("signedTransactionInfo")))
        if transaction.get("type") != "Auto-Renewable Subscription":
            return [transaction_record(transaction)]
        record = transaction_record(transaction, with_state=False)
        statuses = self.subscription(transaction_id, environment=_environment(transaction))
        return [record, *(r for r in statuses if r.store_key == record.store_key)]

    def history(
        self, transaction_id: str, *, environment: ApiEnvironment | None = None
    ) -> list[StoreRecord]:
        """Get Transaction History (every page): periods and revocations per subscription."""
        tokens: list[object] = []
        for page in self._api().iter_transaction_history(transaction_id, environment=environment):
            tokens.extend(_list(page.get("signedTransactions")))
        return history_records(self._transactions(tokens))

    def customer(
        self, transaction_id: str, *, environment: ApiEnvironment | None = None
    ) -> list[StoreRecord]:
        """Everything about the customer who made `transaction_id`: the history, then the
        current state of each subscription (apply in this order)."""
        records = self.history(transaction_id, environment=environment)
        if not records:
            return records
        if any(r.product_type is ProductType.AUTO_RENEWABLE for r in records):
            found_in = api_environment(records[0].environment)
            records.extend(self.subscription(transaction_id, environment=found_in))
        return records

    def refunds(
        self, transaction_id: str, *, environment: ApiEnvironment | None = None
    ) -> list[StoreRecord]:
        """Get Refund History (every page) as REFUNDED records."""
        tokens: list[object] = []
        for page in self._api().iter_refund_history(transaction_id, environment=environment):
            tokens.extend(_list(page.get("signedTransactions")))
        return history_records(self._transactions(tokens), kind=EventKind.REFUNDED)

    def order(self, order_id: str) -> list[StoreRecord]:
        """Look Up Order ID (the id on the customer's emailed receipt)."""
        answer = self._api().look_up_order_id(order_id)
        if answer.get("status") != 0:
            raise AppleApiRejected("invalid_order_id", "the App Store knows no such order id")
        return history_records(self._transactions(_list(answer.get("signedTransactions"))))

    def notification_history(
        self,
        start: datetime,
        end: datetime,
        pagination_token: str | None = None,
        *,
        environment: ApiEnvironment | None = None,
    ) -> HistoryPage:
        """One page of Get Notification History, each entry verified like a webhook.

        History is per environment: poll each accepted one (`environments`)."""
        page = self.signed_notification_history(
            start, end, pagination_token, environment=environment
        )
        items = []
        for token in page.signed_payloads:
            try:
                items.append(HistoryItem(token, self.notification(token), None))
            except VerificationError as error:
                items.append(HistoryItem(token, None, error))
        return HistoryPage(
            items=tuple(items), pagination_token=page.pagination_token, has_more=page.has_more
        )

    def signed_notification_history(
        self,
        start: datetime,
        end: datetime,
        pagination_token: str | None = None,
        *,
        environment: ApiEnvironment | None = None,
    ) -> SignedHistoryPage:
        """`notification_history` unverified, for callers that hand each entry to the inbox:
        it verifies the entries no webhook brought already and skips the others."""
        answer = self._api().get_notification_history(
            start, end, pagination_token, environment=environment
        )
        tokens = []
        for entry in _list(answer.get("notificationHistory")):
            token = entry.get("signedPayload") if isinstance(entry, dict) else None
            if isinstance(token, str):
                tokens.append(token)
        next_token = answer.get("paginationToken")
        return SignedHistoryPage(
            signed_payloads=tuple(tokens),
            pagination_token=next_token if isinstance(next_token, str) else None,
            has_more=answer.get("hasMore") is True,
        )

    def receipt(self, receipt: str) -> list[StoreRecord]:
        """An app receipt's purchases, resolved through the API (see `customer`)."""
        parsed = parse_receipt(receipt)
        if parsed.bundle_id is not None and parsed.bundle_id != self._verifier.bundle_id:
            raise VerificationError(Reason.WRONG_APP, "the receipt belongs to another app")
        environment = parsed.environment
        if environment not in self._verifier.environments:
            raise VerificationError(
                Reason.WRONG_ENVIRONMENT, "the receipt's environment is not accepted"
            )
        if environment not in ("Production", "Sandbox"):
            raise AppleApiRejected(
                "local_receipt", "Xcode receipts cannot be looked up in the App Store"
            )
        ids = parsed.transaction_ids
        if not ids:
            return []
        return self.customer(
            ids[0], environment="Production" if environment == "Production" else "Sandbox"
        )

    def request_test_notification(self) -> str:
        """Ask Apple for a TEST notification; returns its testNotificationToken."""
        answer = self._api().request_test_notification()
        token = answer.get("testNotificationToken")
        if not isinstance(token, str):
            raise AppleApiRejected("bad_answer", "no testNotificationToken in the answer")
        return token

    # -- what the engine's use cases call (iap_engine.service.stores.AppleGateway) ----------

    def from_signed_transaction(self, signed_transaction: str) -> Verified:
        """A StoreKit 2 signed transaction from the app; needs no API credentials.

        With credentials, a subscription's current state comes from Get All Subscription
        Statuses; without them (or when Apple cannot answer now) the records are the
        transaction's facts with the state it implies, marked `partial_state`.
        """
        transaction = self._verifier.verify_transaction(signed_transaction)
        alone = Verified(
            records=(transaction_record(transaction, kind=EventKind.PURCHASED),),
            partial_state=True,
        )
        environment = transaction.get("environment")
        if (
            self._client is None
            or transaction.get("type") != "Auto-Renewable Subscription"
            or environment not in ("Production", "Sandbox")
        ):
            return alone
        purchase = transaction_record(transaction, kind=EventKind.PURCHASED, with_state=False)
        try:
            statuses = self.subscription(purchase.store_key, environment=_environment(transaction))
        except (AppleApiUnavailable, AppleApiRejected) as error:
            log.warning(
                "statuses of %s unavailable (%s): using the transaction alone",
                purchase.store_key,
                error.reason,
            )
            return alone
        current = [r for r in statuses if r.store_key == purchase.store_key]
        return Verified(records=(purchase, *current)) if current else alone

    def from_transaction_id(self, transaction_id: str) -> Verified:
        """Any transaction id of the purchase, through the App Store Server API."""
        return Verified(records=tuple(self.transaction(transaction_id)))

    def from_receipt(self, receipt: str) -> Verified:
        """An app receipt's purchases, the most recently active subscription first."""
        return Verified(records=tuple(_latest_first(self.receipt(receipt))))

    def original_ids_for_order(self, order_id: str) -> Sequence[str]:
        """The original transaction ids on an App Store invoice (none for an unknown id)."""
        answer = self._api().look_up_order_id(order_id)
        if answer.get("status") != 0:
            return ()
        transactions = self._transactions(_list(answer.get("signedTransactions")))
        return tuple(dict.fromkeys(str(t.get("originalTransactionId")) for t in transactions))

    # -- helpers --------------------------------------------------------------------------

    def _api(self) -> AppStoreServerClient:
        if self._client is None:
            raise NotConfigured(
                "apple.issuer_id, apple.key_id and apple.private_key_path",
                "the App Store Server API",
            )
        return self._client

    def _transactions(self, tokens: Iterable[object]) -> list[Json]:
        return [self._verifier.verify_transaction(_token(token)) for token in tokens]


def _latest_first(records: list[StoreRecord]) -> list[StoreRecord]:
    """Records grouped by subscription (order kept inside a group), the group whose latest
    period starts last first: the purchase a receipt is most likely about."""
    groups: dict[str, list[StoreRecord]] = {}
    for record in records:
        groups.setdefault(record.store_key, []).append(record)

    def latest(group: list[StoreRecord]) -> datetime:
        starts = [p.starts_at for r in group for p in r.event.periods]
        return max(starts, default=datetime.min.replace(tzinfo=UTC))

    ordered = sorted(groups.values(), key=latest, reverse=True)
    return [record for group in ordered for record in group]


def build_apple_gateway(
    settings: AppleSettings,
    *,
    clock: Clock,
    session: requests.Session,
    metrics: Metrics | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> AppleGateway:
    """The adapter bootstrap wires: verifier always, API client when credentials are set."""
    observe = None
    if metrics is not None:
        calls = metrics.store_calls

        def observe(outcome: str) -> None:
            calls.inc("app_store", outcome)

    return AppleGateway.from_settings(
        settings, session=session, clock=clock, sleep=sleep, observe=observe
    )


def _list(value: object) -> list[Json]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise AppleApiRejected("bad_answer", "an App Store answer has an unexpected shape")
    return value


def _token(value: object) -> str:
    if not isinstance(value, str):
        raise VerificationError(Reason.MALFORMED, "an answer lacks its signed data")
    return value


def _environment(transaction: Json) -> ApiEnvironment:
    return "Production" if transaction.get("environment") == "Production" else "Sandbox"


__all__ = [
    "AppleGateway",
    "AppleNotification",
    "HistoryItem",
    "HistoryPage",
    "SignedHistoryPage",
    "build_apple_gateway",
]
