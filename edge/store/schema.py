"""The store's tables (SQLAlchemy Core), identical in SQLite and PostgreSQL.

This module is the current shape of the schema; the migrations under ``migrations/versions`` are how a database gets
there, and a test checks that the two agree. Change both together: add a column here, then a new migration script.

Ids are 64-bit in PostgreSQL (many nodes, 30 frames/s per camera outgrow 32 bits) and SQLite's INTEGER rowid, which is
already 64-bit and the only type SQLite auto-increments.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from edge.store.timestamps import UTCDateTime

# Explicit constraint names make migrations reproducible on both backends (SQLite batch mode needs names).
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

FRAME_STATUSES = ("processed", "dropped")
FLAG_STATUSES = ("pending", "confirmed", "rejected")

Id = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData(naming_convention=NAMING_CONVENTION)

# Every frame the service has finished with, processed or dropped with a reason. (camera_id, seq) is the idempotency
# key: the unique constraint is what makes a resent frame a no-op, even with many nodes writing at once.
frames = Table(
    "frames",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("camera_id", String(128), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("reason", Text, nullable=True),  # why a dropped frame was dropped; NULL when processed
    Column("captured_at", UTCDateTime, nullable=True),  # unknown for some dropped frames (malformed header)
    Column("received_at", UTCDateTime, nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
    Column("model_version", String(128), nullable=True),
    Column("detections_count", Integer, nullable=True),
    UniqueConstraint("camera_id", "seq"),
    CheckConstraint("status IN ('processed', 'dropped')", name="status"),
    CheckConstraint("seq >= 0", name="seq_nonnegative"),
)

# One physical item, counted once when its track crossed the camera's line. counted_at is the capture time of frame
# counted_seq (the crossing): the time that waste per day/hour is reported by.
items = Table(
    "items",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("camera_id", String(128), nullable=False),
    Column("track_id", BigInteger, nullable=False),
    Column("first_seq", BigInteger, nullable=False),
    Column("last_seq", BigInteger, nullable=False),
    Column("counted_seq", BigInteger, nullable=False),
    Column("best_seq", BigInteger, nullable=True),
    Column("first_seen_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Column("counted_at", UTCDateTime, nullable=False),
    Column("produce", String(64), nullable=False),
    Column("condition", String(64), nullable=False),
    Column("freshness", Float, nullable=False),
    Column("flagged", Boolean, nullable=False),
    Column("votes", JSON, nullable=False),  # produce -> number of frames voting for it
    Column("frames", Integer, nullable=False),  # observations of the track
    Column("box_x0", Float, nullable=True),  # best box (xyxy, pixels of frame best_seq)
    Column("box_y0", Float, nullable=True),
    Column("box_x1", Float, nullable=True),
    Column("box_y1", Float, nullable=True),
    Column("sku", String(128), nullable=True),
    Column("inferred", Boolean, nullable=False),  # crossing inferred from belt motion, not observed
    Column("model_version", String(128), nullable=True),
    Index(None, "camera_id", "counted_at"),
    Index(None, "counted_at"),
    sqlite_autoincrement=True,  # ids are referenced from outside (reviews, URLs): never reuse one
)

# A flagged item waiting for (or past) a person's review. status is the current decision; the audit trail of
# decisions belongs to the review tables.
flags = Table(
    "flags",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("item_id", Id, ForeignKey("items.id", ondelete="CASCADE"), nullable=False),
    Column("status", String(16), nullable=False, server_default="pending"),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("item_id"),
    CheckConstraint("status IN ('pending', 'confirmed', 'rejected')", name="status"),
    Index(None, "status", "created_at"),
    sqlite_autoincrement=True,
)

# The best crop (JPEG bytes) of a flagged item. Bytes in the database rather than files on a node's disk: a central
# review page can serve crops written by any node, by id, and a crop commits atomically with its flag.
crops = Table(
    "crops",
    metadata,
    Column("flag_id", Id, ForeignKey("flags.id", ondelete="CASCADE"), primary_key=True),
    Column("jpeg", LargeBinary, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

# Each camera's tracker state as of frame `seq`, written in the same transaction as that frame, so a restarted
# service resumes exactly where the committed frames end.
tracker_checkpoints = Table(
    "tracker_checkpoints",
    metadata,
    Column("camera_id", String(128), primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("state", JSON, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# A model version (name + ONNX digest) that some node has loaded; one version name never changes digest.
model_versions = Table(
    "model_versions",
    metadata,
    Column("version", String(128), primary_key=True),
    Column("sha256", String(64), nullable=False),
    Column("first_loaded_at", UTCDateTime, nullable=False),
)

# Every load of a model version (stage and execution provider can differ per load and per node).
model_loads = Table(
    "model_loads",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("version", String(128), ForeignKey("model_versions.version"), nullable=False),
    Column("stage", String(32), nullable=False),
    Column("provider", String(64), nullable=False),
    Column("loaded_at", UTCDateTime, nullable=False),
    Index(None, "version", "loaded_at"),
)


# ---- revision 0002: whole frames, reviews, users, the waste feed ----------------------------------------------------

# The whole frame (JPEG as received) in which a flagged item was seen best: shown on demand with the box drawn, and
# the image of a retraining sample. One row per (camera_id, seq), written idempotently.
frame_images = Table(
    "frame_images",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("camera_id", String(128), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("captured_at", UTCDateTime, nullable=True),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("jpeg", LargeBinary, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("camera_id", "seq"),
    CheckConstraint("width > 0 AND height > 0", name="size_positive"),
    sqlite_autoincrement=True,
)

# Every detection in a stored frame, flagged or not: retraining labels the whole frame, other items included.
# track_id is the counter's item id (items.track_id of the same camera) when the box was tracked.
frame_detections = Table(
    "frame_detections",
    metadata,
    Column("frame_image_id", Id, ForeignKey("frame_images.id", ondelete="CASCADE"), primary_key=True),
    Column("idx", Integer, primary_key=True),  # position in the frame's detections
    Column("x0", Float, nullable=False),
    Column("y0", Float, nullable=False),
    Column("x1", Float, nullable=False),
    Column("y1", Float, nullable=False),
    Column("produce", String(64), nullable=False),
    Column("condition", String(64), nullable=False),
    Column("confidence", Float, nullable=False),
    Column("freshness", Float, nullable=True),
    Column("track_id", BigInteger, nullable=True),
)

# A flag's labels as corrected by reviewers (NULL: the model's value stands) and the decision now in force. One row
# per reviewed flag; flags.status holds the status itself. Undo restores these from the review row it reverts.
flag_labels = Table(
    "flag_labels",
    metadata,
    Column("flag_id", Id, ForeignKey("flags.id", ondelete="CASCADE"), primary_key=True),
    Column("produce", String(64), nullable=True),
    Column("condition", String(64), nullable=True),
    Column("box_x0", Float, nullable=True),
    Column("box_y0", Float, nullable=True),
    Column("box_x1", Float, nullable=True),
    Column("box_y1", Float, nullable=True),
    Column("reviewed_by", String(64), nullable=True),
    Column("reviewed_at", UTCDateTime, nullable=True),
)

# The audit trail: every decision on a flag, never updated except to point at the undo that reverted it.
# produce/condition/box_*: what the action set (relabel, fix_box) or restored (undo); prev_*: the flag's state just
# before, which is what an undo of this row restores.
reviews = Table(
    "reviews",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("flag_id", Id, ForeignKey("flags.id", ondelete="CASCADE"), nullable=False),
    Column("item_id", Id, ForeignKey("items.id", ondelete="CASCADE"), nullable=False),
    Column("action", String(16), nullable=False),
    Column("reviewer", String(64), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("status", String(16), nullable=False),  # the flag's status after this review
    Column("produce", String(64), nullable=True),
    Column("condition", String(64), nullable=True),
    Column("box_x0", Float, nullable=True),
    Column("box_y0", Float, nullable=True),
    Column("box_x1", Float, nullable=True),
    Column("box_y1", Float, nullable=True),
    Column("prev_status", String(16), nullable=False),
    Column("prev_produce", String(64), nullable=True),
    Column("prev_condition", String(64), nullable=True),
    Column("prev_box_x0", Float, nullable=True),
    Column("prev_box_y0", Float, nullable=True),
    Column("prev_box_x1", Float, nullable=True),
    Column("prev_box_y1", Float, nullable=True),
    Column("prev_reviewed_by", String(64), nullable=True),
    Column("prev_reviewed_at", UTCDateTime, nullable=True),
    Column("undoes", Id, ForeignKey("reviews.id", ondelete="CASCADE"), nullable=True),
    Column("batch_id", String(36), nullable=True),
    UniqueConstraint("undoes"),  # a review is undone at most once
    CheckConstraint("action IN ('confirm_waste', 'not_waste', 'relabel', 'fix_box', 'undo')", name="action"),
    CheckConstraint("(action = 'undo') = (undoes IS NOT NULL)", name="undo_target"),
    Index(None, "reviewer", "id"),
    Index(None, "flag_id", "id"),
    sqlite_autoincrement=True,
)

# People who may sign in to the review page. password_hash is a self-describing scrypt string (edge.store.users).
users = Table(
    "users",
    metadata,
    Column("username", String(64), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("password_hash", String(255), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("password_changed_at", UTCDateTime, nullable=False),
    CheckConstraint("role IN ('ops', 'admin')", name="role"),
)

# The waste feed the forecasting side reads: per site, camera, product (SKU, else produce kind), day and hour (NULL in
# daily rows). Written by `qc waste export` (an upsert of the exported window); updated_at changes only with the row.
waste_feed = Table(
    "waste_feed",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("site", String(64), nullable=False),
    Column("camera_id", String(128), nullable=False),
    Column("product", String(128), nullable=False),
    Column("produce", String(64), nullable=False),
    Column("day", Date, nullable=False),
    Column("hour", SmallInteger, nullable=True),
    Column("items_inspected", Integer, nullable=False),
    Column("predicted_waste", Integer, nullable=False),
    Column("confirmed_waste", Integer, nullable=False),
    Column("false_flags", Integer, nullable=False),
    Column("pending_review", Integer, nullable=False),
    Column("model_versions", Text, nullable=False),  # sorted, comma-separated
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("site", "camera_id", "product", "day", "hour"),
    CheckConstraint("hour IS NULL OR (hour >= 0 AND hour <= 23)", name="hour_range"),
    # Both backends treat NULLs as distinct in a unique constraint: daily rows get their own partial unique index.
    Index(
        "uq_waste_feed_daily",
        "site",
        "camera_id",
        "product",
        "day",
        unique=True,
        sqlite_where=text("hour IS NULL"),
        postgresql_where=text("hour IS NULL"),
    ),
    Index(None, "day"),
)


# ---- revision 0003: shadow results ---------------------------------------------------------------------------------

# What a shadow model found on a frame production processed (a shadow rollout), kept apart from the frames and items
# production committed. agreement: matched boxes / max(n_production, n_detections), 1 when both are empty.
# detections: the shadow's boxes, [{"box": [x0, y0, x1, y1], "produce", "condition", "confidence"}, ...].
shadow_frames = Table(
    "shadow_frames",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("camera_id", String(128), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("model_version", String(128), nullable=False),  # the shadow version
    Column("production_version", String(128), nullable=False),  # the version that detected the frame for real
    Column("n_detections", Integer, nullable=False),
    Column("n_production", Integer, nullable=False),
    Column("matched", Integer, nullable=False),
    Column("agreement", Float, nullable=False),
    Column("detections", JSON, nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
    UniqueConstraint("camera_id", "seq", "model_version"),
    CheckConstraint("agreement >= 0 AND agreement <= 1", name="agreement_range"),
    Index(None, "model_version", "recorded_at"),
)


# ---- revision 0004: review sessions --------------------------------------------------------------------------------

# Signed-in review sessions, kept server-side so that signing out (or a password change) holds across restarts and
# across nodes sharing one store. sid_hash: sha256 hex of the cookie's random session id (the id itself is not stored).
review_sessions = Table(
    "review_sessions",
    metadata,
    Column("sid_hash", String(64), primary_key=True),
    Column("username", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
    Index(None, "username"),
    Index(None, "expires_at"),
)
