"""Subscriptions with their periods and revocations, mapped to rows explicitly."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
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
    return Statement(_load_select(condition))


def _load_select(condition: Any) -> Any:
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
    return both.order_by(*(both.selected_columns[name] for name in order))


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
# Reconciliation loads a whole group of subscriptions at once (a list: through SQLAlchemy,
# whose expanding IN the driver statements do not do; once per group, not per subscription).
_MANY = _load_select(subscriptions.c.id.in_(bindparam("ids", expanding=True)))
_CHAINS = (
    select(
        subscription_tokens.c.subscription_id,
        subscription_tokens.c.store,
        subscription_tokens.c.token,
        subscription_tokens.c.linked_token,
        subscription_tokens.c.created_at,
    )
    .where(subscription_tokens.c.subscription_id.in_(bindparam("ids", expanding=True)))
    .order_by(
        subscription_tokens.c.subscription_id,
        subscription_tokens.c.created_at,
        subscription_tokens.c.token,
    )
)


_VERSIONS = select(subscriptions.c.id, subscriptions.c.version).where(
    subscriptions.c.id.in_(bindparam("ids", expanding=True))
)


@dataclass(frozen=True, slots=True)
class _Token:
    token: str
    linked_token: str | None
    created_at: datetime


class SqlSubscriptions:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        # What each subscription looked like when loaded, to write only what changed.
        self._loaded: dict[str, Subscription] = {}
        # What `get_many` and `current_tokens` loaded, so that this unit of work's later
        # look-ups of the same subscriptions need no query: (store, store key) -> id, each
        # subscription's tokens in order, and (store, token) -> owner. Store keys and token
        # owners never change; what does change is guarded by the version check on save.
        self._keys: dict[tuple[str, str], str] = {}
        self._chains: dict[str, list[_Token]] = {}
        self._owners: dict[tuple[str, str], str] = {}

    # -- reading --------------------------------------------------------------------------

    def get(self, subscription_id: str) -> Subscription | None:
        found = self._load(_BY_ID, {"id": subscription_id})
        return found[0] if found else None

    def get_many(self, subscription_ids: Sequence[str]) -> Sequence[Subscription]:
        if not subscription_ids:
            return []
        rows = self._connection.execute(_MANY, {"ids": list(subscription_ids)})
        loaded = self._assemble(rows)
        for subscription in loaded:
            self._keys[(subscription.store.value, subscription.store_key)] = subscription.id
        return loaded

    def reuse(self, earlier: Sequence[Subscription]) -> list[str]:
        """Take subscriptions read by an earlier unit of work as read by this one, where
        they are unchanged; the ids of those that changed or are gone (to be read again).

        A subscription's version is raised by every write of it or of its facts, so an
        unchanged version means unchanged data: one small query instead of reading them all.
        """
        if not earlier:
            return []
        rows = self._connection.execute(_VERSIONS, {"ids": [s.id for s in earlier]})
        current = {row.id: row.version for row in rows}
        changed = []
        for subscription in earlier:
            if current.get(subscription.id) != subscription.version:
                changed.append(subscription.id)
                continue
            self._loaded[subscription.id] = subscription
            self._keys[(subscription.store.value, subscription.store_key)] = subscription.id
        return changed

    def by_store_key(self, store: Store, store_key: str) -> Subscription | None:
        known = self._keys.get((store.value, store_key))
        if known is not None:
            return self._loaded[known]
        found = self._load(_BY_STORE_KEY, {"store": store.value, "key": store_key})
        return found[0] if found else None

    def by_token(self, store: Store, token: str) -> Subscription | None:
        owner = self._owners.get((store.value, token))
        if owner is not None and owner in self._loaded:
            return self._loaded[owner]
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
        chain = self._chains.get(subscription_id)
        if chain is not None:
            return _newest(chain)
        return _newest(_TOKENS.rows(self._connection, {"id": subscription_id}))

    def current_tokens(self, subscription_ids: Sequence[str]) -> dict[str, str]:
        if not subscription_ids:
            return {}
        chains: dict[str, list[_Token]] = {sid: [] for sid in subscription_ids}
        for row in self._connection.execute(_CHAINS, {"ids": list(subscription_ids)}):
            chains[row.subscription_id].append(_Token(row.token, row.linked_token, row.created_at))
            self._owners[(row.store, row.token)] = row.subscription_id
        self._chains.update(chains)
        current = {sid: _newest(chain) for sid, chain in chains.items()}
        return {sid: token for sid, token in current.items() if token is not None}

    def _load(self, load: Statement, parameters: Mapping[str, Any]) -> list[Subscription]:
        return self._assemble(load.rows(self._connection, parameters))

    def _assemble(self, rows: Iterable[Any]) -> list[Subscription]:
        found: dict[str, tuple[Any, list[Period], list[Revocation]]] = {}
        for row in rows:
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
        if (store.value, token) in self._owners:
            return  # owned already (tokens never change hands)
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
        chain = self._chains.get(subscription_id)
        if chain is not None:
            chain.append(_Token(token, linked_token, now))
            chain.sort(key=lambda t: (t.created_at, t.token))
            self._owners[(store.value, token)] = subscription_id

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


def _newest(chain: Iterable[Any]) -> str | None:
    """The token of a chain (in order of arrival) that no other token replaced."""
    tokens = list(chain)
    replaced = {t.linked_token for t in tokens if t.linked_token}
    newest = [t.token for t in tokens if t.token not in replaced]
    return newest[-1] if newest else None


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
    """A period from its `period_` columns of a subscription row (see `_load_select`)."""
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
    """A revocation from its `revocation_` columns of a subscription row (see `_load_select`)."""
    return Revocation(
        transaction_id=row.revocation_transaction_id,
        revoked_at=row.revocation_revoked_at,
        reason=RevocationReason(row.revocation_reason) if row.revocation_reason else None,
        as_of=row.revocation_as_of,
    )
