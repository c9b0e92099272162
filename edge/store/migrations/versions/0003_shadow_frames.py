"""Shadow results: what a shadow model found on each frame production processed, and its agreement.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26

Written by hand and frozen: it must not import edge.store.schema. Only a new table: SQLite needs no batch rebuild.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite auto-increments INTEGER PRIMARY KEY only
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "shadow_frames",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("camera_id", sa.String(128), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("model_version", sa.String(128), nullable=False),
        sa.Column("production_version", sa.String(128), nullable=False),
        sa.Column("n_detections", sa.Integer(), nullable=False),
        sa.Column("n_production", sa.Integer(), nullable=False),
        sa.Column("matched", sa.Integer(), nullable=False),
        sa.Column("agreement", sa.Float(), nullable=False),
        sa.Column("detections", sa.JSON(), nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shadow_frames")),
        sa.UniqueConstraint(
            "camera_id", "seq", "model_version", name=op.f("uq_shadow_frames_camera_id_seq_model_version")
        ),
        sa.CheckConstraint("agreement >= 0 AND agreement <= 1", name=op.f("ck_shadow_frames_agreement_range")),
    )
    op.create_index(
        op.f("ix_shadow_frames_model_version_recorded_at"), "shadow_frames", ["model_version", "recorded_at"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_shadow_frames_model_version_recorded_at"), table_name="shadow_frames")
    op.drop_table("shadow_frames")
