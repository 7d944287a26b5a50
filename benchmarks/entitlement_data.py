"""A realistic subscription book for the entitlement look-up benchmark, bulk-loaded.

Per subscription: 1 to 6 paid terms (about 3 on average), the current fields the store last
reported, sometimes a refund (of the latest term, revoking it, or of an older one), a grace
period or an expiry. A quarter of users hold more than one subscription; a few
subscriptions have no app account (never linked, or the account was erased). Stores,
products and environments are mixed. Generation is deterministic (one seed).

Rows are written straight through the driver, not through the engine (`executemany` on
SQLite, `COPY` on PostgreSQL), in the formats the engine's own types write: naive UTC times
(SQLite: SQLAlchemy's `YYYY-MM-DD HH:MM:SS.ffffff` text), booleans, enum values.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from iap_engine.domain import Catalog, Product, ProductType

MONTHLY = "premium.monthly"
YEARLY = "premium.yearly"
LIFETIME = "pro.lifetime"
TERMS = {MONTHLY: timedelta(days=30), YEARLY: timedelta(days=365)}
CATALOG = Catalog(
    [
        Product(MONTHLY, ProductType.AUTO_RENEWABLE, ("premium",)),
        Product(YEARLY, ProductType.AUTO_RENEWABLE, ("premium",)),
        Product(LIFETIME, ProductType.NON_CONSUMABLE, ("premium", "pro")),
    ]
)
SUBSCRIPTION_COLUMNS = (
    "id", "store", "environment", "store_key", "product_id", "status", "auto_renew",
    "expires_at", "grace_expires_at", "renewal_product_id", "expiration_reason",
    "last_store_time", "app_user_id", "account_deleted", "version", "created_at", "updated_at",
)  # fmt: skip
PERIOD_COLUMNS = (
    "subscription_id", "transaction_id", "product_id", "starts_at", "ends_at", "offer",
    "price_micros", "currency", "replaces_prior", "grace_ends_at", "as_of",
)  # fmt: skip
REVOCATION_COLUMNS = ("subscription_id", "transaction_id", "revoked_at", "reason", "as_of")
TIME_COLUMNS = frozenset(
    {
        "expires_at", "grace_expires_at", "last_store_time", "created_at", "updated_at",
        "starts_at", "ends_at", "grace_ends_at", "as_of", "revoked_at",
    }
)  # fmt: skip
BATCH = 20_000


@dataclass
class Book:
    """One batch of rows (tuples in the column orders above)."""

    subscriptions: list[tuple[Any, ...]] = field(default_factory=list)
    periods: list[tuple[Any, ...]] = field(default_factory=list)
    revocations: list[tuple[Any, ...]] = field(default_factory=list)


@dataclass
class Totals:
    subscriptions: int = 0
    periods: int = 0
    revocations: int = 0
    users: list[str] = field(default_factory=list)


def generate(count: int, now: datetime, seed: int = 7) -> Iterator[tuple[Book, list[str]]]:
    """Batches of rows for `count` subscriptions, with the user ids each batch introduced."""
    chooser = random.Random(seed)
    now = now.astimezone(UTC).replace(tzinfo=None)
    user = ""
    transaction = 2_000_000_000_000_000
    book, users = Book(), []
    for number in range(count):
        if number == 0 or chooser.random() >= 0.25:
            user = f"user-{number:08d}"
            users.append(user)
        transaction = _subscription(book, chooser, number, user, transaction, now)
        if len(book.subscriptions) >= BATCH:
            yield book, users
            book, users = Book(), []
    if book.subscriptions:
        yield book, users


def _subscription(
    book: Book, chooser: random.Random, number: int, user: str, transaction: int, now: datetime
) -> int:
    store = "app_store" if chooser.random() < 0.6 else "play_store"
    environment = "production" if chooser.random() < 0.95 else "sandbox"
    subscription_id = f"{number:032x}"
    store_key = str(transaction + 1) if store == "app_store" else f"token-{number:012d}-aZ"
    unlinked = chooser.random() < 0.04
    app_user_id = None if unlinked else user
    kind = chooser.random()
    if kind < 0.1:  # a lifetime purchase: one term with no end
        starts = now - timedelta(days=chooser.uniform(1, 700))
        transaction += 1
        book.periods.append(
            (subscription_id, str(transaction), LIFETIME, starts, None, "normal", 49_990_000,
             "USD", False, None, starts)
        )  # fmt: skip
        refunded = chooser.random() < 0.02
        if refunded:
            revoked = starts + timedelta(days=3)
            refund = (subscription_id, str(transaction), revoked, "refunded", revoked)
            book.revocations.append(refund)
        book.subscriptions.append(
            (subscription_id, store, environment, store_key, LIFETIME,
             "revoked" if refunded else "active", False, None, None, None, None, starts,
             app_user_id, unlinked and chooser.random() < 0.5, 1, starts, starts)
        )  # fmt: skip
        return transaction
    product = MONTHLY if kind < 0.8 else YEARLY
    term = TERMS[product]
    terms = 1 + min(5, int(chooser.expovariate(0.5)))
    # The last term ends between 60% of a term ago and a full term from now.
    last_end = now + term * chooser.uniform(-0.6, 1.0)
    first_start = last_end - term * terms
    starts = first_start
    for index in range(terms):
        transaction += 1
        offer = "trial" if index == 0 and chooser.random() < 0.3 else "normal"
        price = 0 if offer == "trial" else (9_990_000 if product == MONTHLY else 79_990_000)
        book.periods.append(
            (subscription_id, str(transaction), product, starts, starts + term, offer, price,
             "USD", False, None, starts)
        )  # fmt: skip
        starts += term
    expires = last_end
    status, auto_renew, grace, reason = "active", chooser.random() < 0.85, None, None
    outcome = chooser.random()
    if outcome < 0.03:  # the latest term refunded: revoked at once
        revoked = expires - term / 2
        book.revocations.append((subscription_id, str(transaction), revoked, "refunded", revoked))
        status, auto_renew, reason = "revoked", False, "revoked"
    elif outcome < 0.05 and terms > 1:  # an older term refunded; access goes on
        older = str(transaction - 1)
        revoked = expires - term
        book.revocations.append((subscription_id, older, revoked, "chargeback", revoked))
    elif outcome < 0.07:  # billing failed at the last renewal: in grace for 16 days
        grace = expires + timedelta(days=16)
        status, auto_renew = "grace_period", True
    if expires <= now and status == "active":
        status, auto_renew = "expired", False
        reason = "voluntary" if chooser.random() < 0.7 else "billing_error"
    reported = min(now, expires - term + timedelta(hours=1))
    book.subscriptions.append(
        (subscription_id, store, environment, store_key, product, status, auto_renew, expires,
         grace, product, reason, reported, app_user_id, unlinked and chooser.random() < 0.5,
         terms, first_start, reported)
    )  # fmt: skip
    return transaction


# -- loading ------------------------------------------------------------------------------


def load_sqlite(path: str, batches: Iterator[tuple[Book, list[str]]]) -> Totals:
    """Append the rows to a migrated SQLite file; indexes are kept (they are the point)."""
    totals = Totals()
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        # A throwaway file being built by one connection: no journal, no syncs, the indexes
        # in memory. The engine's connections put it back in WAL mode.
        connection.execute("PRAGMA journal_mode=OFF")
        connection.execute("PRAGMA synchronous=OFF")
        connection.execute("PRAGMA cache_size=-1000000")
        connection.execute("PRAGMA locking_mode=EXCLUSIVE")
        for book, users in batches:
            connection.execute("BEGIN")
            _insert(connection, "subscriptions", SUBSCRIPTION_COLUMNS, book.subscriptions)
            _insert(connection, "periods", PERIOD_COLUMNS, book.periods)
            _insert(connection, "revocations", REVOCATION_COLUMNS, book.revocations)
            connection.execute("COMMIT")
            _count(totals, book, users)
        connection.execute("ANALYZE")
        connection.execute("PRAGMA journal_mode=WAL")
    finally:
        connection.close()
    return totals


def _insert(
    connection: sqlite3.Connection, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]
) -> None:
    if not rows:
        return
    times = [i for i, column in enumerate(columns) if column in TIME_COLUMNS]
    marks = ", ".join("?" for _ in columns)
    connection.executemany(
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
        (_sqlite_row(row, times) for row in rows),
    )


def _sqlite_row(row: tuple[Any, ...], times: list[int]) -> list[Any]:
    values = list(row)
    for index in times:
        value = values[index]
        if value is not None:
            values[index] = value.isoformat(" ", "microseconds")  # SQLAlchemy's DATETIME text
    return values


def load_postgres(url: str, batches: Iterator[tuple[Book, list[str]]]) -> Totals:
    """COPY the rows into a migrated PostgreSQL database, then ANALYZE."""
    totals = Totals()
    with psycopg.connect(url) as connection:
        for book, users in batches:
            with connection.cursor() as cursor:
                for table, columns, rows in (
                    ("subscriptions", SUBSCRIPTION_COLUMNS, book.subscriptions),
                    ("periods", PERIOD_COLUMNS, book.periods),
                    ("revocations", REVOCATION_COLUMNS, book.revocations),
                ):
                    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row(row)
            connection.commit()
            _count(totals, book, users)
        connection.autocommit = True
        connection.execute("VACUUM ANALYZE")
    return totals


def _count(totals: Totals, book: Book, users: list[str]) -> None:
    totals.subscriptions += len(book.subscriptions)
    totals.periods += len(book.periods)
    totals.revocations += len(book.revocations)
    totals.users.extend(users)
