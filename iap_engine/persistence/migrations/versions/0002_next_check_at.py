"""subscriptions.next_check_at: when reconciliation should fetch the store's state

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("next_check_at", sa.DateTime(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_subscriptions_next_check_at"), ["next_check_at"], unique=False
        )
    # NULL means "never check": subscriptions stored before this column existed would never
    # be reconciled. Live ones are due at once; the first check schedules the next.
    op.execute(
        "UPDATE subscriptions SET next_check_at = updated_at"
        " WHERE status NOT IN ('expired', 'revoked')"
    )


def downgrade() -> None:
    # Never recreate the table on SQLite: dropping it would cascade to every period,
    # revocation, token and timeline row (foreign keys are on).
    with op.batch_alter_table("subscriptions", schema=None, recreate="never") as batch_op:
        batch_op.drop_index(batch_op.f("ix_subscriptions_next_check_at"))
        batch_op.drop_column("next_check_at")
