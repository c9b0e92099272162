"""Whole frames with their detections, reviews (audit trail + corrected labels), users, and the waste feed table.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26

Written by hand and frozen: it must not import edge.store.schema, which moves on with later revisions. Only new
tables: no existing table is altered, so SQLite needs no batch rebuild.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite auto-increments INTEGER PRIMARY KEY only
TS = sa.DateTime(timezone=True)


def _box(prefix: str = "", *, nullable: bool = True) -> list[sa.Column]:
    return [sa.Column(f"{prefix}{c}", sa.Float(), nullable=nullable) for c in ("box_x0", "box_y0", "box_x1", "box_y1")]


def upgrade() -> None:
    op.create_table(
        "frame_images",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("camera_id", sa.String(128), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("captured_at", TS, nullable=True),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("jpeg", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_frame_images")),
        sa.UniqueConstraint("camera_id", "seq", name=op.f("uq_frame_images_camera_id_seq")),
        sa.CheckConstraint("width > 0 AND height > 0", name=op.f("ck_frame_images_size_positive")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "frame_detections",
        sa.Column("frame_image_id", ID, nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("x0", sa.Float(), nullable=False),
        sa.Column("y0", sa.Float(), nullable=False),
        sa.Column("x1", sa.Float(), nullable=False),
        sa.Column("y1", sa.Float(), nullable=False),
        sa.Column("produce", sa.String(64), nullable=False),
        sa.Column("condition", sa.String(64), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("freshness", sa.Float(), nullable=True),
        sa.Column("track_id", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("frame_image_id", "idx", name=op.f("pk_frame_detections")),
        sa.ForeignKeyConstraint(
            ["frame_image_id"],
            ["frame_images.id"],
            name=op.f("fk_frame_detections_frame_image_id_frame_images"),
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "flag_labels",
        sa.Column("flag_id", ID, nullable=False),
        sa.Column("produce", sa.String(64), nullable=True),
        sa.Column("condition", sa.String(64), nullable=True),
        *_box(),
        sa.Column("reviewed_by", sa.String(64), nullable=True),
        sa.Column("reviewed_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("flag_id", name=op.f("pk_flag_labels")),
        sa.ForeignKeyConstraint(["flag_id"], ["flags.id"], name=op.f("fk_flag_labels_flag_id_flags"), ondelete="CASCADE"),
    )
    op.create_table(
        "reviews",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("flag_id", ID, nullable=False),
        sa.Column("item_id", ID, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("reviewer", sa.String(64), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("produce", sa.String(64), nullable=True),
        sa.Column("condition", sa.String(64), nullable=True),
        *_box(),
        sa.Column("prev_status", sa.String(16), nullable=False),
        sa.Column("prev_produce", sa.String(64), nullable=True),
        sa.Column("prev_condition", sa.String(64), nullable=True),
        *_box("prev_"),
        sa.Column("prev_reviewed_by", sa.String(64), nullable=True),
        sa.Column("prev_reviewed_at", TS, nullable=True),
        sa.Column("undoes", ID, nullable=True),
        sa.Column("batch_id", sa.String(36), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reviews")),
        sa.ForeignKeyConstraint(["flag_id"], ["flags.id"], name=op.f("fk_reviews_flag_id_flags"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"], name=op.f("fk_reviews_item_id_items"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["undoes"], ["reviews.id"], name=op.f("fk_reviews_undoes_reviews"), ondelete="CASCADE"),
        sa.UniqueConstraint("undoes", name=op.f("uq_reviews_undoes")),
        sa.CheckConstraint(
            "action IN ('confirm_waste', 'not_waste', 'relabel', 'fix_box', 'undo')", name=op.f("ck_reviews_action")
        ),
        sa.CheckConstraint("(action = 'undo') = (undoes IS NOT NULL)", name=op.f("ck_reviews_undo_target")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_reviews_reviewer_id"), "reviews", ["reviewer", "id"])
    op.create_index(op.f("ix_reviews_flag_id_id"), "reviews", ["flag_id", "id"])
    op.create_table(
        "users",
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("password_changed_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("username", name=op.f("pk_users")),
        sa.CheckConstraint("role IN ('ops', 'admin')", name=op.f("ck_users_role")),
    )
    op.create_table(
        "waste_feed",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("camera_id", sa.String(128), nullable=False),
        sa.Column("product", sa.String(128), nullable=False),
        sa.Column("produce", sa.String(64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("hour", sa.SmallInteger(), nullable=True),
        sa.Column("items_inspected", sa.Integer(), nullable=False),
        sa.Column("predicted_waste", sa.Integer(), nullable=False),
        sa.Column("confirmed_waste", sa.Integer(), nullable=False),
        sa.Column("false_flags", sa.Integer(), nullable=False),
        sa.Column("pending_review", sa.Integer(), nullable=False),
        sa.Column("model_versions", sa.Text(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_waste_feed")),
        sa.UniqueConstraint(
            "site", "camera_id", "product", "day", "hour", name=op.f("uq_waste_feed_site_camera_id_product_day_hour")
        ),
        sa.CheckConstraint("hour IS NULL OR (hour >= 0 AND hour <= 23)", name=op.f("ck_waste_feed_hour_range")),
    )
    # NULL hours never collide in a unique constraint (either backend): daily rows get a partial unique index.
    op.create_index(
        "uq_waste_feed_daily",
        "waste_feed",
        ["site", "camera_id", "product", "day"],
        unique=True,
        sqlite_where=sa.text("hour IS NULL"),
        postgresql_where=sa.text("hour IS NULL"),
    )
    op.create_index(op.f("ix_waste_feed_day"), "waste_feed", ["day"])


def downgrade() -> None:
    op.drop_index(op.f("ix_waste_feed_day"), table_name="waste_feed")
    op.drop_index("uq_waste_feed_daily", table_name="waste_feed")
    op.drop_index(op.f("ix_reviews_flag_id_id"), table_name="reviews")
    op.drop_index(op.f("ix_reviews_reviewer_id"), table_name="reviews")
    for table in ("waste_feed", "users", "reviews", "flag_labels", "frame_detections", "frame_images"):
        op.drop_table(table)
