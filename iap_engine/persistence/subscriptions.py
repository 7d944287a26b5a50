"""Subscriptions with their periods and revocations, mapped to rows explicitly."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from types import EllipsisType
from typing import Any

from sqlalchemy import (
    Connection,
    Table,
    and_,
    bindparam,
    insert,
    null,
    select,
    type_coerce,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

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
from iap_engine.persistence.driver import Statement
from iap_engine.persistence.tables import (
    periods,
    revocations,
    subscription_tokens,
    subscriptions,
)
from iap_engine.service.errors import ConcurrentUpdate

# The reads and writes of webhooks and entitlement look-ups run on the driver (see
# `driver`). A load is one query (one round trip, one snapshot): the subscriptions matching
# a condition with their periods, then again with their revocations (UNION ALL).

# The columns the domain maps (reconciliation's own columns are not read here), named
# explicitly: SQLite orders a UNION by result column names.
_SUBSCRIPTION = tuple(
    subscriptions.c[name].label(name)
    for name in (
        "id", "store", "environment", "store_key", "product_id", "status", "auto_renew",
        "expires_at", "grace_expires_at", "renewal_product_id", "expiration_reason",
        "last_store_time", "app_user_id", "account_deleted", "version", "created_at",
    )
)  # fmt: skip
_PERIOD_NAMES = (
    "transaction_id", "product_id", "starts_at", "ends_at", "offer", "price_micros",
    "currency", "replaces_prior", "grace_ends_at", "as_of",
)  # fmt: skip
_REVOCATION_NAMES = ("transaction_id", "revoked_at", "reason", "as_of")


def _facts(table: Table, names: tuple[str, ...], prefix: str, present: bool) -> list[Any]:
    """A fact table's columns as `prefix_name`, or typed NULLs in their place."""
    return [
        (table.c[name] if present else type_coerce(null(), table.c[name].type)).label(
            f"{prefix}_{name}"
        )
        for name in names
    ]


def _load_where(condition: Any) -> Statement:
    """The subscriptions matching `condition`: one row per period (or one with no period),
    then one per revocation."""
    with_periods = (
        select(
            *_SUBSCRIPTION,
            *_facts(periods, _PERIOD_NAMES, "period", present=True),
            *_facts(revocations, _REVOCATION_NAMES, "revocation", present=False),
        )
        .select_from(
            subscriptions.outerjoin(periods, periods.c.subscription_id == subscriptions.c.id)
        )
        .where(condition)
    )
    with_revocations = (
        select(
            *_SUBSCRIPTION,
            *_facts(periods, _PERIOD_NAMES, "period", present=False),
            *_facts(revocations, _REVOCATION_NAMES, "revocation", present=True),
        )
        .select_from(
            subscriptions.join(revocations, revocations.c.subscription_id == subscriptions.c.id)
        )
        .where(condition)
    )
    both = union_all(with_periods, with_revocations)
    order = ("created_at", "id", "period_starts_at", "period_transaction_id",
             "revocation_transaction_id")  # fmt: skip
    return Statement(both.order_by(*(both.selected_columns[name] for name in order)))


_BY_ID = _load_where(subscriptions.c.id == bindparam("id"))
_BY_STORE_KEY = _load_where(
    and_(subscriptions.c.store == bindparam("store"), subscriptions.c.store_key == bindparam("key"))
)
_BY_TOKEN = _load_where(
    subscriptions.c.id
    == select(subscription_tokens.c.subscription_id)
    .where(subscription_tokens.c.store == bindparam("store"))
    .where(subscription_tokens.c.token == bindparam("token"))
    .scalar_subquery()
)
_BY_TRANSACTION_ID = _load_where(
    subscriptions.c.id.in_(
        select(periods.c.subscription_id)
        .where(periods.c.transaction_id == bindparam("transaction_id"))
        .union(
            select(revocations.c.subscription_id).where(
                revocations.c.transaction_id == bindparam("transaction_id")
            )
        )
    )
)
_FOR_USER = _load_where(subscriptions.c.app_user_id == bindparam("app_user_id"))
_TOKENS = Statement(
    select(subscription_tokens.c.token, subscription_tokens.c.linked_token)
    .where(subscription_tokens.c.subscription_id == bindparam("id"))
    .order_by(subscription_tokens.c.created_at, subscription_tokens.c.token)
)
_TOKEN_OWNER = Statement(
    select(subscription_tokens.c.subscription_id)
    .where(subscription_tokens.c.store == bindparam("store"))
    .where(subscription_tokens.c.token == bindparam("token"))
)
# A store key taken meanwhile by another writer inserts nothing (see `add`).
_INSERT = {
    "postgresql": Statement(
        postgresql.insert(subscriptions).on_conflict_do_nothing(
            index_elements=["store", "store_key"]
        )
    ),
    "sqlite": Statement(
        sqlite.insert(subscriptions).on_conflict_do_nothing(index_elements=["store", "store_key"])
    ),
}
_UPDATE = Statement(
    update(subscriptions)
    .where(subscriptions.c.id == bindparam("where_id"))
    .where(subscriptions.c.version == bindparam("where_version"))
)
_INSERT_PERIOD = Statement(insert(periods))
_UPDATE_PERIOD = Statement(
    update(periods)
    .where(periods.c.subscription_id == bindparam("where_subscription_id"))
    .where(periods.c.transaction_id == bindparam("where_transaction_id"))
)
_INSERT_REVOCATION = Statement(insert(revocations))
_UPDATE_REVOCATION = Statement(
    update(revocations)
    .where(revocations.c.subscription_id == bindparam("where_subscription_id"))
    .where(revocations.c.transaction_id == bindparam("where_transaction_id"))
)
_INSERT_TOKEN = Statement(insert(subscription_tokens))


class SqlSubscriptions:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        # What each subscription looked like when loaded, to write only what changed.
        self._loaded: dict[str, Subscription] = {}

    # -- reading --------------------------------------------------------------------------

    def get(self, subscription_id: str) -> Subscription | None:
        found = self._load(_BY_ID, {"id": subscription_id})
        return found[0] if found else None

    def by_store_key(self, store: Store, store_key: str) -> Subscription | None:
        found = self._load(_BY_STORE_KEY, {"store": store.value, "key": store_key})
        return found[0] if found else None

    def by_token(self, store: Store, token: str) -> Subscription | None:
        found = self._load(_BY_TOKEN, {"store": store.value, "token": token})
        return found[0] if found else None

    def by_transaction_id(self, transaction_id: str) -> Sequence[Subscription]:
        return self._load(_BY_TRANSACTION_ID, {"transaction_id": transaction_id})

    def for_user(self, app_user_id: str) -> Sequence[Subscription]:
        return self._load(_FOR_USER, {"app_user_id": app_user_id})

    def tokens(self, subscription_id: str) -> Sequence[str]:
        rows = _TOKENS.rows(self._connection, {"id": subscription_id})
        return [row.token for row in rows]

    def current_token(self, subscription_id: str) -> str | None:
        rows = _TOKENS.rows(self._connection, {"id": subscription_id})
        replaced = {row.linked_token for row in rows if row.linked_token}
        newest = [row.token for row in rows if row.token not in replaced]
        return newest[-1] if newest else None

    def _load(self, load: Statement, parameters: Mapping[str, Any]) -> list[Subscription]:
        found: dict[str, tuple[Any, list[Period], list[Revocation]]] = {}
        for row in load.rows(self._connection, parameters):
            entry = found.get(row.id)
            if entry is None:
                entry = found[row.id] = (row, [], [])
            if row.period_transaction_id is not None:
                entry[1].append(_period(row))
            elif row.revocation_transaction_id is not None:
                entry[2].append(_revocation(row))
        loaded = [_subscription(row, facts, revoked) for row, facts, revoked in found.values()]
        for subscription in loaded:
            self._loaded[subscription.id] = subscription
        return loaded

    # -- writing --------------------------------------------------------------------------

    def add(
        self, subscription: Subscription, now: datetime, *, next_check_at: datetime | None = None
    ) -> Subscription:
        stored = _with_version(subscription, 1)
        values = _subscription_values(stored)
        values.update(created_at=now, updated_at=now, next_check_at=next_check_at)
        cursor = _INSERT[self._connection.dialect.name].run(self._connection, values)
        if cursor.rowcount != 1:
            # Another writer started this subscription meanwhile: the retry will load it.
            raise ConcurrentUpdate(
                f"{subscription.store} subscription {subscription.store_key[:24]} exists already"
            )
        self._write_facts(stored.id, stored.periods, stored.revocations, known=None)
        self._loaded[stored.id] = stored
        return stored

    def save(
        self,
        subscription: Subscription,
        now: datetime,
        *,
        next_check_at: datetime | EllipsisType | None = ...,
    ) -> Subscription:
        known = self._loaded.get(subscription.id)
        if known is None:
            known = self.get(subscription.id)
            if known is None:
                raise ConcurrentUpdate(f"subscription {subscription.id} no longer exists")
        stored = _with_version(subscription, subscription.version + 1)
        values = _subscription_values(stored)
        del values["id"]
        values.update(updated_at=now, where_id=subscription.id, where_version=subscription.version)
        if not isinstance(next_check_at, EllipsisType):
            values["next_check_at"] = next_check_at
        cursor = _UPDATE.run(self._connection, values)
        if cursor.rowcount != 1:
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
        if _TOKEN_OWNER.rows(self._connection, {"store": store.value, "token": token}):
            return
        _INSERT_TOKEN.run(
            self._connection,
            {
                "store": store.value,
                "token": token,
                "subscription_id": subscription_id,
                "linked_token": linked_token,
                "created_at": now,
            },
        )

    def _write_facts(
        self,
        subscription_id: str,
        new_periods: Iterable[Period],
        new_revocations: Iterable[Revocation],
        known: Subscription | None,
    ) -> None:
        """Insert the facts that are new, update those that changed."""
        connection = self._connection
        old_periods = {p.transaction_id: p for p in known.periods} if known else {}
        for period in new_periods:
            old = old_periods.get(period.transaction_id)
            if old == period:
                continue
            values = _period_values(period)
            if old is None:
                _INSERT_PERIOD.run(connection, {"subscription_id": subscription_id, **values})
            else:
                _UPDATE_PERIOD.run(connection, _where(subscription_id, values))
        old_revocations = {r.transaction_id: r for r in known.revocations} if known else {}
        for revocation in new_revocations:
            old_r = old_revocations.get(revocation.transaction_id)
            if old_r == revocation:
                continue
            values = _revocation_values(revocation)
            if old_r is None:
                _INSERT_REVOCATION.run(connection, {"subscription_id": subscription_id, **values})
            else:
                _UPDATE_REVOCATION.run(connection, _where(subscription_id, values))


def _where(subscription_id: str, values: dict[str, Any]) -> dict[str, Any]:
    """Parameters of a fact's update: its new values, and which row (by its identity)."""
    transaction_id = values.pop("transaction_id")
    return {
        **values,
        "where_subscription_id": subscription_id,
        "where_transaction_id": transaction_id,
    }


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
    row: Any, period_list: list[Period], revocation_list: list[Revocation]
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


def _period(row: Any) -> Period:
    """A period from its `period_` columns of a subscription row (see `_with_periods`)."""
    return Period(
        transaction_id=row.period_transaction_id,
        product_id=row.period_product_id,
        starts_at=row.period_starts_at,
        ends_at=row.period_ends_at,
        offer=OfferKind(row.period_offer),
        price_micros=row.period_price_micros,
        currency=row.period_currency,
        replaces_prior=row.period_replaces_prior,
        grace_ends_at=row.period_grace_ends_at,
        as_of=row.period_as_of,
    )


def _revocation_values(revocation: Revocation) -> dict[str, Any]:
    return {
        "transaction_id": revocation.transaction_id,
        "revoked_at": revocation.revoked_at,
        "reason": revocation.reason.value if revocation.reason else None,
        "as_of": revocation.as_of,
    }


def _revocation(row: Any) -> Revocation:
    """A revocation from its `revocation_` columns of a subscription row (see `_load_where`)."""
    return Revocation(
        transaction_id=row.revocation_transaction_id,
        revoked_at=row.revocation_revoked_at,
        reason=RevocationReason(row.revocation_reason) if row.revocation_reason else None,
        as_of=row.revocation_as_of,
    )
