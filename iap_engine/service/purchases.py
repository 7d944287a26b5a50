"""Use case: a backend hands over a purchase the app just made; link it to the app user.

The store adapter has already verified the purchase with the store and normalized it into
records (`Verified`). Here they are recorded like any other store input, then the purchase
is linked to the app account under the configured restore policy:

- not linked yet, or its former account was deleted: linked to this user;
- linked to another live account: `transfer` moves it (a `transferred` timeline event),
  `keep_original` refuses with a conflict naming the subscription, never the other account.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

from iap_engine.domain import (
    Catalog,
    Source,
    StoreRecord,
    Subscription,
    TimelineEntry,
)
from iap_engine.service.deliveries import run_follow_ups
from iap_engine.service.errors import Conflict, InvalidInput
from iap_engine.service.policy import Policy, RestorePolicy
from iap_engine.service.ports import Clock, UnitOfWork, UnitOfWorkFactory
from iap_engine.service.recording import find_subscription, record_input
from iap_engine.service.retry import retrying


@dataclass(frozen=True, slots=True)
class Verified:
    """A purchase as the store confirmed it; the first record is the one to answer with."""

    records: tuple[StoreRecord, ...]
    # True when the records come from the app's own signed data alone (no store API call):
    # they prove the facts but may lag the store's current state, so for a subscription we
    # already track they only add facts.
    partial_state: bool = False
    follow_ups: tuple[Callable[[], None], ...] = field(default=())


def register_purchase(
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    catalog: Catalog,
    verified: Verified,
    app_user_id: str,
    *,
    policy: Policy,
) -> Subscription:
    if not app_user_id.strip():
        raise InvalidInput("app_user_id", "a non-empty app user id")
    if not verified.records:
        raise InvalidInput("purchase", "a purchase the store knows")

    def register() -> Subscription:
        now = clock.now()
        with uow_factory() as uow:
            answer: Subscription | None = None
            for record in verified.records:
                if verified.partial_state and find_subscription(uow, record) is not None:
                    record = replace(record, event=replace(record.event, state=None))
                recorded = record_input(
                    uow,
                    catalog,
                    record,
                    now=now,
                    source=Source.PURCHASE,
                    policy=replace(policy, link_account_hints=False),
                )
                linked = link(
                    uow, recorded.subscription, app_user_id, policy=policy.restore, now=now
                )
                answer = answer or linked
            uow.commit()
        assert answer is not None
        return answer

    subscription = retrying(register)
    run_follow_ups(verified.follow_ups)
    return subscription


def link(
    uow: UnitOfWork,
    subscription: Subscription,
    app_user_id: str,
    *,
    policy: RestorePolicy,
    now: datetime,
) -> Subscription:
    uow.customers.ensure(app_user_id, now)
    if subscription.app_user_id == app_user_id:
        return subscription
    if subscription.app_user_id is None:
        note = (
            "restored by an app account after the previous account was deleted"
            if subscription.account_deleted
            else "linked to the app account that registered the purchase"
        )
        kind = "linked"
    elif policy == "keep_original":
        raise Conflict(
            f"subscription {subscription.id} ({_store_ids(subscription)}) belongs to another"
            " app account and restore_policy is keep_original"
        )
    else:
        note = "moved from another app account that restored the same store purchase"
        kind = "transferred"
    linked = uow.subscriptions.save(
        replace(subscription, app_user_id=app_user_id, account_deleted=False), now
    )
    uow.timeline.append(
        TimelineEntry(
            subscription_id=subscription.id,
            kind=kind,
            outcome="recorded",
            store_time=None,
            received_at=now,
            source=Source.PURCHASE,
            note=note,
        )
    )
    return linked


def _store_ids(subscription: Subscription) -> str:
    if subscription.store.value == "app_store":
        return f"original transaction {subscription.store_key}"
    return f"purchase token {subscription.store_key[:12]}..."
