"""Initial store: frames seen, items, flags, crops, tracker checkpoints, model versions and loads.

Revision ID: 0001
Revises:
Create Date: 2025-11-26

Written by hand and frozen: it must not import edge.store.schema, which moves on with later revisions.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite auto-increments INTEGER PRIMARY KEY only
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "frames",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("camera_id", sa.String(128), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("captured_at", TS, nullable=True),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
        sa.Column("model_version", sa.String(128), nullable=True),
        sa.Column("detections_count", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_frames")),
        sa.UniqueConstraint("camera_id", "seq", name=op.f("uq_frames_camera_id_seq")),
        sa.CheckConstraint("status IN ('processed', 'dropped')", name=op.f("ck_frames_status")),
        sa.CheckConstraint("seq >= 0", name=op.f("ck_frames_seq_nonnegative")),
    )
    op.create_table(
        "items",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("camera_id", sa.String(128), nullable=False),
        sa.Column("track_id", sa.BigInteger(), nullable=False),
        sa.Column("first_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("counted_seq", sa.BigInteger(), nullable=False),
        sa.Column("best_seq", sa.BigInteger(), nullable=True),
        sa.Column("first_seen_at", TS, nullable=False),
        sa.Column("last_seen_at", TS, nullable=False),
        sa.Column("counted_at", TS, nullable=False),
        sa.Column("produce", sa.String(64), nullable=False),
        sa.Column("condition", sa.String(64), nullable=False),
        sa.Column("freshness", sa.Float(), nullable=False),
        sa.Column("flagged", sa.Boolean(), nullable=False),
        sa.Column("votes", sa.JSON(), nullable=False),
        sa.Column("frames", sa.Integer(), nullable=False),
        sa.Column("box_x0", sa.Float(), nullable=True),
        sa.Column("box_y0", sa.Float(), nullable=True),
        sa.Column("box_x1", sa.Float(), nullable=True),
        sa.Column("box_y1", sa.Float(), nullable=True),
        sa.Column("sku", sa.String(128), nullable=True),
        sa.Column("inferred", sa.Boolean(), nullable=False),
        sa.Column("model_version", sa.String(128), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_items")),
        sqlite_autoincrement=True,  # ids are referenced from outside (reviews, URLs): never reuse one
    )
    op.create_index(op.f("ix_items_camera_id_counted_at"), "items", ["camera_id", "counted_at"])
    op.create_index(op.f("ix_items_counted_at"), "items", ["counted_at"])
    op.create_table(
        "flags",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("item_id", ID, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flags")),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"], name=op.f("fk_flags_item_id_items"), ondelete="CASCADE"),
        sa.UniqueConstraint("item_id", name=op.f("uq_flags_item_id")),
        sa.CheckConstraint("status IN ('pending', 'confirmed', 'rejected')", name=op.f("ck_flags_status")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_flags_status_created_at"), "flags", ["status", "created_at"])
    op.create_table(
        "crops",
        sa.Column("flag_id", ID, nullable=False),
        sa.Column("jpeg", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("flag_id", name=op.f("pk_crops")),
        sa.ForeignKeyConstraint(["flag_id"], ["flags.id"], name=op.f("fk_crops_flag_id_flags"), ondelete="CASCADE"),
    )
    op.create_table(
        "tracker_checkpoints",
        sa.Column("camera_id", sa.String(128), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("camera_id", name=op.f("pk_tracker_checkpoints")),
    )
    op.create_table(
        "model_versions",
        sa.Column("version", sa.String(128), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("first_loaded_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_model_versions")),
    )
    op.create_table(
        "model_loads",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("version", sa.String(128), nullable=False),
        sa.Column("stage", sa.String(32), nullable=False),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("loaded_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_loads")),
        sa.ForeignKeyConstraint(
            ["version"], ["model_versions.version"], name=op.f("fk_model_loads_version_model_versions")
        ),
    )
    op.create_index(op.f("ix_model_loads_version_loaded_at"), "model_loads", ["version", "loaded_at"])


def downgrade() -> None:
    for index, table in (
        ("ix_model_loads_version_loaded_at", "model_loads"),
        ("ix_flags_status_created_at", "flags"),
        ("ix_items_counted_at", "items"),
        ("ix_items_camera_id_counted_at", "items"),
    ):
        op.drop_index(op.f(index), table_name=table)
    for table in ("model_loads", "model_versions", "tracker_checkpoints", "crops", "flags", "items", "frames"):
        op.drop_table(table)
