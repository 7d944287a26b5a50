"""Recording one normalized store input: the step every path in goes through.

Webhooks, purchase calls, replays and reconciliation all end here: find the subscription the
input is about (or start one), let the domain apply it, link it to an app account where the
input says whose it is, and write the subscription and its timeline entry in the caller's
unit of work.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime

from iap_engine.domain import (
    Anomaly,
    Applied,
    Catalog,
    Ignored,
    Outcome,
    Source,
    Store,
    StoreRecord,
    Subscription,
    TimelineEntry,
    apply,
)
from iap_engine.service.policy import DEFAULT_POLICY, Policy
from iap_engine.service.ports import UnitOfWork
from iap_engine.service.schedule import scheduled


@dataclass(frozen=True, slots=True)
class Recorded:
    subscription: Subscription
    outcome: Outcome
    created: bool


def new_subscription_id() -> str:
    return uuid.uuid4().hex


def find_subscription(uow: UnitOfWork, record: StoreRecord) -> Subscription | None:
    """The subscription a record is about: by store key, then by any token of its chain."""
    found = uow.subscriptions.by_store_key(record.store, record.store_key)
    if found is None and record.store is Store.PLAY_STORE:
        found = uow.subscriptions.by_token(record.store, record.store_key)
        if found is None and record.linked_key:
            found = uow.subscriptions.by_token(
                record.store, record.linked_key
            ) or uow.subscriptions.by_store_key(record.store, record.linked_key)
    return found


def record_input(
    uow: UnitOfWork,
    catalog: Catalog,
    record: StoreRecord,
    *,
    now: datetime,
    source: Source,
    inbox_id: int | None = None,
    policy: Policy = DEFAULT_POLICY,
) -> Recorded:
    existing = find_subscription(uow, record)
    event = catalog.with_fixed_terms(record.event)
    if existing is not None and record.store is Store.PLAY_STORE:
        current = uow.subscriptions.current_token(existing.id)
        if current is not None and current not in (record.store_key, record.linked_key):
            # An older token of a replaced chain: its facts still count, its state does not
            # (the chain's newest token, or one replacing it, speaks for the subscription).
            event = replace(event, state=None)
    base = existing or _start(record)
    outcome = apply(base, event)
    subscription = outcome.subscription

    linked_now = False
    if (
        policy.link_account_hints
        and record.account_hint
        and subscription.app_user_id is None
        and not subscription.account_deleted
    ):
        # The app put its own account id into the purchase (appAccountToken /
        # obfuscatedExternalAccountId). A deleted account is never re-linked this way: only a
        # purchase call from a live account takes an orphaned subscription.
        subscription = replace(subscription, app_user_id=record.account_hint)
        uow.customers.ensure(record.account_hint, now)
        linked_now = True

    # Reconciliation's next look at it moves with what the store just said.
    next_check_at = (
        now if isinstance(outcome, Anomaly) else scheduled(subscription, catalog, now, policy)
    )
    if existing is None:
        subscription = uow.subscriptions.add(subscription, now, next_check_at=next_check_at)
    elif subscription != existing:
        subscription = uow.subscriptions.save(subscription, now, next_check_at=next_check_at)
    if record.store is Store.PLAY_STORE:
        uow.subscriptions.add_token(
            record.store, record.store_key, subscription.id, record.linked_key, now
        )

    uow.timeline.append(
        TimelineEntry(
            subscription_id=subscription.id,
            kind=record.event.kind.value,
            outcome=_outcome_name(outcome),
            store_time=record.event.store_time,
            received_at=now,
            source=source,
            store_type=record.event.store_type,
            store_subtype=record.event.store_subtype,
            inbox_id=inbox_id,
            note=None if isinstance(outcome, Applied) else outcome.reason,
        )
    )
    if linked_now:
        uow.timeline.append(
            TimelineEntry(
                subscription_id=subscription.id,
                kind="linked",
                outcome="recorded",
                store_time=None,
                received_at=now,
                source=source,
                inbox_id=inbox_id,
                note="linked to the app account named in the purchase",
            )
        )
    return Recorded(subscription, outcome, existing is None)


def _start(record: StoreRecord) -> Subscription:
    event = record.event
    product_id = (
        event.state.product_id
        if event.state is not None
        else (event.periods[-1].product_id if event.periods else "unknown")
    )
    # A Google chain seen from its newer end is keyed by the oldest token we know of.
    store_key = record.linked_key or record.store_key
    return Subscription(
        id=new_subscription_id(),
        store=record.store,
        environment=record.environment,
        store_key=store_key,
        product_id=product_id,
    )


def _outcome_name(outcome: Outcome) -> str:
    if isinstance(outcome, Applied):
        return "applied"
    if isinstance(outcome, Ignored):
        return "ignored"
    return "anomaly"
