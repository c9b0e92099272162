"""Review sessions kept in the store (sign-out and password changes revoke them on every node, across restarts).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06

Written by hand and frozen: it must not import edge.store.schema. Only a new table: SQLite needs no batch rebuild.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "review_sessions",
        sa.Column("sid_hash", sa.String(64), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("revoked_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("sid_hash", name=op.f("pk_review_sessions")),
    )
    op.create_index(op.f("ix_review_sessions_username"), "review_sessions", ["username"])
    op.create_index(op.f("ix_review_sessions_expires_at"), "review_sessions", ["expires_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_review_sessions_expires_at"), table_name="review_sessions")
    op.drop_index(op.f("ix_review_sessions_username"), table_name="review_sessions")
    op.drop_table("review_sessions")
