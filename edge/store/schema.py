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
    Float,
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
