"""The database schema (SQLAlchemy Core). Migrations in `migrations/` create exactly this.

Times are stored as naive UTC (`UTCDateTime`) so SQLite and PostgreSQL hold the same values
and compare them the same way.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out; naive UTC in the database."""

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; the engine works in UTC")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # SQLite returns text for computed expressions
            value = datetime.fromisoformat(value)
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

customers = Table(
    "customers",
    metadata,
    Column("app_user_id", String(255), primary_key=True),
    Column("created_at", UTCDateTime, nullable=False),
)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("store", String(16), nullable=False),
    Column("environment", String(16), nullable=False),
    Column("store_key", Text, nullable=False),
    Column("product_id", String(255), nullable=False),
    Column("status", String(16), nullable=False),
    Column("auto_renew", Boolean, nullable=False),
    Column("expires_at", UTCDateTime),
    Column("grace_expires_at", UTCDateTime),
    Column("renewal_product_id", String(255)),
    Column("expiration_reason", String(32)),
    Column("last_store_time", UTCDateTime),
    Column("app_user_id", String(255)),
    Column("account_deleted", Boolean, nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # When reconciliation should fetch the store's state next (an anomaly asks for "now"),
    # and which worker holds it meanwhile (a lease that expires if the worker dies).
    Column("next_check_at", UTCDateTime),
    Column("lease_owner", String(64)),
    Column("lease_expires_at", UTCDateTime),
    UniqueConstraint("store", "store_key"),
    Index(None, "app_user_id"),
    Index(None, "expires_at"),
    Index(None, "next_check_at"),
)

# Every purchase token of a Google linkedPurchaseToken chain points at its one subscription.
subscription_tokens = Table(
    "subscription_tokens",
    metadata,
    Column("store", String(16), primary_key=True),
    Column("token", Text, primary_key=True),
    Column(
        "subscription_id",
        String(32),
        ForeignKey("subscriptions.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("linked_token", Text),
    Column("created_at", UTCDateTime, nullable=False),
)

periods = Table(
    "periods",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column(
        "subscription_id",
        String(32),
        ForeignKey("subscriptions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("transaction_id", String(255), nullable=False, index=True),
    Column("product_id", String(255), nullable=False),
    Column("starts_at", UTCDateTime, nullable=False),
    Column("ends_at", UTCDateTime),
    Column("offer", String(16), nullable=False),
    Column("price_micros", BigInteger),
    Column("currency", String(3)),
    Column("replaces_prior", Boolean, nullable=False),
    Column("grace_ends_at", UTCDateTime),
    Column("as_of", UTCDateTime, nullable=False),
    UniqueConstraint("subscription_id", "transaction_id"),
)

revocations = Table(
    "revocations",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column(
        "subscription_id",
        String(32),
        ForeignKey("subscriptions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("transaction_id", String(255), nullable=False, index=True),
    Column("revoked_at", UTCDateTime),
    Column("reason", String(32)),
    Column("as_of", UTCDateTime, nullable=False),
    UniqueConstraint("subscription_id", "transaction_id"),
)

inbox = Table(
    "inbox",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("store", String(16), nullable=False),
    # Apple notificationUUID, Pub/Sub messageId, or a digest of a body that has neither.
    Column("delivery_id", String(255), nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    # received | processed | ignored | failed | dead | rejected
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime),
    Column("last_error", Text),
    Column("processed_at", UTCDateTime),
    Column("subscription_id", String(32), index=True),
    UniqueConstraint("store", "delivery_id"),
    Index(None, "status", "next_attempt_at"),
)

events = Table(
    "events",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column(
        "subscription_id",
        String(32),
        ForeignKey("subscriptions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("kind", String(32), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("store_time", UTCDateTime),
    Column("received_at", UTCDateTime, nullable=False),
    Column("source", String(16), nullable=False),
    Column("store_type", String(64)),
    Column("store_subtype", String(64)),
    Column("inbox_id", BigInteger, ForeignKey("inbox.id", ondelete="SET NULL")),
    Column("note", Text),
    Index(None, "subscription_id", "store_time"),
)

cursors = Table(
    "cursors",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(255), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(255)),
    Column("detail", Text),
)
