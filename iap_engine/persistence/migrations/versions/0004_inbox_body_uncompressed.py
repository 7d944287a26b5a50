"""inbox.body stored uncompressed on PostgreSQL (STORAGE EXTERNAL)

Webhook bodies are ~15 KB of base64 JWS, which PostgreSQL's TOAST compression tries and
fails to shrink; the attempt cost ~380 us of server CPU per stored delivery (515 -> 130 us
per insert measured on the benchmark machine). EXTERNAL keeps large bodies out of line, as
before, without trying. Existing rows are untouched; SQLite has no such setting.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE inbox ALTER COLUMN body SET STORAGE EXTERNAL")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE inbox ALTER COLUMN body SET STORAGE EXTENDED")
