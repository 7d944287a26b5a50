"""Subscriptions with their periods and revocations, mapped to rows explicitly."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, and_, insert, select, update
from sqlalchemy.exc import IntegrityError

from iap_engine.domain import (
    Environment,
    ExpirationReason,
    OfferKind,
    Period,
    Revocation,
    RevocationReason,
    Status,
    Store,
    Subscription,
)
from iap_engine.persistence.tables import (
    periods,
    revocations,
    subscription_tokens,
    subscriptions,
)
from iap_engine.service.errors import ConcurrentUpdate


class SqlSubscriptions:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        # What each subscription looked like when loaded, to write only what changed.
        self._loaded: dict[str, Subscription] = {}

    # -- reading --------------------------------------------------------------------------

    def get(self, subscription_id: str) -> Subscription | None:
        found = self._load(subscriptions.c.id == subscription_id)
        return found[0] if found else None

    def by_store_key(self, store: Store, store_key: str) -> Subscription | None:
        found = self._load(
            and_(subscriptions.c.store == store.value, subscriptions.c.store_key == store_key)
        )
        return found[0] if found else None

    def by_token(self, store: Store, token: str) -> Subscription | None:
        owner = (
            select(subscription_tokens.c.subscription_id)
            .where(subscription_tokens.c.store == store.value)
            .where(subscription_tokens.c.token == token)
            .scalar_subquery()
        )
        found = self._load(subscriptions.c.id == owner)
        return found[0] if found else None

    def by_transaction_id(self, transaction_id: str) -> Sequence[Subscription]:
        owners = (
            select(periods.c.subscription_id)
            .where(periods.c.transaction_id == transaction_id)
            .union(
                select(revocations.c.subscription_id).where(
                    revocations.c.transaction_id == transaction_id
                )
            )
        )
        return self._load(subscriptions.c.id.in_(owners))

    def for_user(self, app_user_id: str) -> Sequence[Subscription]:
        return self._load(subscriptions.c.app_user_id == app_user_id)

    def tokens(self, subscription_id: str) -> Sequence[str]:
        rows = self._connection.execute(
            select(subscription_tokens.c.token)
            .where(subscription_tokens.c.subscription_id == subscription_id)
            .order_by(subscription_tokens.c.created_at, subscription_tokens.c.token)
        )
        return [row.token for row in rows]

    def current_token(self, subscription_id: str) -> str | None:
        rows = self._connection.execute(
            select(subscription_tokens.c.token, subscription_tokens.c.linked_token)
            .where(subscription_tokens.c.subscription_id == subscription_id)
            .order_by(subscription_tokens.c.created_at, subscription_tokens.c.token)
        ).all()
        replaced = {row.linked_token for row in rows if row.linked_token}
        newest = [row.token for row in rows if row.token not in replaced]
        return newest[-1] if newest else None

    def request_check(self, subscription_id: str, at: datetime) -> None:
        self._connection.execute(
            update(subscriptions)
            .where(subscriptions.c.id == subscription_id)
            .where((subscriptions.c.next_check_at.is_(None)) | (subscriptions.c.next_check_at > at))
            .values(next_check_at=at)
        )

    def _load(self, condition: Any) -> list[Subscription]:
        rows = self._connection.execute(
            select(subscriptions).where(condition).order_by(subscriptions.c.created_at)
        ).all()
        if not rows:
            return []
        ids = [row.id for row in rows]
        period_rows: dict[str, list[Period]] = defaultdict(list)
        for row in self._connection.execute(
            select(periods)
            .where(periods.c.subscription_id.in_(ids))
            .order_by(periods.c.starts_at, periods.c.transaction_id)
        ):
            period_rows[row.subscription_id].append(_period(row))
        revocation_rows: dict[str, list[Revocation]] = defaultdict(list)
        for row in self._connection.execute(
            select(revocations)
            .where(revocations.c.subscription_id.in_(ids))
            .order_by(revocations.c.transaction_id)
        ):
            revocation_rows[row.subscription_id].append(_revocation(row))
        loaded = [_subscription(row, period_rows[row.id], revocation_rows[row.id]) for row in rows]
        for subscription in loaded:
            self._loaded[subscription.id] = subscription
        return loaded

    # -- writing --------------------------------------------------------------------------

    def add(self, subscription: Subscription, now: datetime) -> Subscription:
        stored = _with_version(subscription, 1)
        try:
            with self._connection.begin_nested():
                self._connection.execute(
                    insert(subscriptions).values(
                        **_subscription_values(stored), created_at=now, updated_at=now
                    )
                )
        except IntegrityError:
            raise ConcurrentUpdate(
                f"{subscription.store} subscription {subscription.store_key[:24]} exists already"
            ) from None
        self._write_facts(stored.id, stored.periods, stored.revocations, known=None)
        self._loaded[stored.id] = stored
        return stored

    def save(self, subscription: Subscription, now: datetime) -> Subscription:
        known = self._loaded.get(subscription.id)
        if known is None:
            known = self.get(subscription.id)
            if known is None:
                raise ConcurrentUpdate(f"subscription {subscription.id} no longer exists")
        stored = _with_version(subscription, subscription.version + 1)
        result = self._connection.execute(
            update(subscriptions)
            .where(subscriptions.c.id == subscription.id)
            .where(subscriptions.c.version == subscription.version)
            .values(**_subscription_values(stored), updated_at=now)
        )
        if result.rowcount != 1:
            raise ConcurrentUpdate(f"subscription {subscription.id} was changed by another writer")
        self._write_facts(stored.id, stored.periods, stored.revocations, known=known)
        self._loaded[stored.id] = stored
        return stored

    def add_token(
        self,
        store: Store,
        token: str,
        subscription_id: str,
        linked_token: str | None,
        now: datetime,
    ) -> None:
        exists = self._connection.execute(
            select(subscription_tokens.c.subscription_id)
            .where(subscription_tokens.c.store == store.value)
            .where(subscription_tokens.c.token == token)
        ).first()
        if exists is not None:
            return
        self._connection.execute(
            insert(subscription_tokens).values(
                store=store.value,
                token=token,
                subscription_id=subscription_id,
                linked_token=linked_token,
                created_at=now,
            )
        )

    def _write_facts(
        self,
        subscription_id: str,
        new_periods: Iterable[Period],
        new_revocations: Iterable[Revocation],
        known: Subscription | None,
    ) -> None:
        old_periods = {p.transaction_id: p for p in known.periods} if known else {}
        for period in new_periods:
            old = old_periods.get(period.transaction_id)
            if old == period:
                continue
            values = _period_values(period)
            if old is None:
                self._connection.execute(
                    insert(periods).values(subscription_id=subscription_id, **values)
                )
            else:
                self._connection.execute(
                    update(periods)
                    .where(periods.c.subscription_id == subscription_id)
                    .where(periods.c.transaction_id == period.transaction_id)
                    .values(**values)
                )
        old_revocations = {r.transaction_id: r for r in known.revocations} if known else {}
        for revocation in new_revocations:
            old_r = old_revocations.get(revocation.transaction_id)
            if old_r == revocation:
                continue
            values = _revocation_values(revocation)
            if old_r is None:
                self._connection.execute(
                    insert(revocations).values(subscription_id=subscription_id, **values)
                )
            else:
                self._connection.execute(
                    update(revocations)
                    .where(revocations.c.subscription_id == subscription_id)
                    .where(revocations.c.transaction_id == revocation.transaction_id)
                    .values(**values)
                )


def _with_version(subscription: Subscription, version: int) -> Subscription:
    return replace(subscription, version=version)


def _subscription_values(subscription: Subscription) -> dict[str, Any]:
    return {
        "id": subscription.id,
        "store": subscription.store.value,
        "environment": subscription.environment.value,
        "store_key": subscription.store_key,
        "product_id": subscription.product_id,
        "status": subscription.status.value,
        "auto_renew": subscription.auto_renew,
        "expires_at": subscription.expires_at,
        "grace_expires_at": subscription.grace_expires_at,
        "renewal_product_id": subscription.renewal_product_id,
        "expiration_reason": (
            subscription.expiration_reason.value if subscription.expiration_reason else None
        ),
        "last_store_time": subscription.last_store_time,
        "app_user_id": subscription.app_user_id,
        "account_deleted": subscription.account_deleted,
        "version": subscription.version,
    }


def _subscription(
    row: Row[Any], period_list: list[Period], revocation_list: list[Revocation]
) -> Subscription:
    return Subscription(
        id=row.id,
        store=Store(row.store),
        environment=Environment(row.environment),
        store_key=row.store_key,
        product_id=row.product_id,
        status=Status(row.status),
        auto_renew=row.auto_renew,
        expires_at=row.expires_at,
        grace_expires_at=row.grace_expires_at,
        renewal_product_id=row.renewal_product_id,
        expiration_reason=(
            ExpirationReason(row.expiration_reason) if row.expiration_reason else None
        ),
        last_store_time=row.last_store_time,
        app_user_id=row.app_user_id,
        account_deleted=row.account_deleted,
        periods=tuple(period_list),
        revocations=tuple(revocation_list),
        version=row.version,
    )


def _period_values(period: Period) -> dict[str, Any]:
    return {
        "transaction_id": period.transaction_id,
        "product_id": period.product_id,
        "starts_at": period.starts_at,
        "ends_at": period.ends_at,
        "offer": period.offer.value,
        "price_micros": period.price_micros,
        "currency": period.currency,
        "replaces_prior": period.replaces_prior,
        "grace_ends_at": period.grace_ends_at,
        "as_of": period.as_of,
    }


def _period(row: Row[Any]) -> Period:
    return Period(
        transaction_id=row.transaction_id,
        product_id=row.product_id,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        offer=OfferKind(row.offer),
        price_micros=row.price_micros,
        currency=row.currency,
        replaces_prior=row.replaces_prior,
        grace_ends_at=row.grace_ends_at,
        as_of=row.as_of,
    )


def _revocation_values(revocation: Revocation) -> dict[str, Any]:
    return {
        "transaction_id": revocation.transaction_id,
        "revoked_at": revocation.revoked_at,
        "reason": revocation.reason.value if revocation.reason else None,
        "as_of": revocation.as_of,
    }


def _revocation(row: Row[Any]) -> Revocation:
    return Revocation(
        transaction_id=row.transaction_id,
        revoked_at=row.revoked_at,
        reason=RevocationReason(row.reason) if row.reason else None,
        as_of=row.as_of,
    )
