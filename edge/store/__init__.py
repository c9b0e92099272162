"""The edge store: frames seen (idempotency), items, flags + crops, tracker checkpoints, model versions; reviews,
whole frames, users and the waste feed; shadow results of a model rollout.

SQLite (WAL) by default, PostgreSQL by URL, one schema, alembic migrations run by `Store.open`.
"""

from edge.store.errors import NotFoundError, StoreError, StoreUnavailableError, StoreValueError
from edge.store.records import (
    FlagRecord,
    FlagStatus,
    FrameStatus,
    FrameTally,
    ItemRecord,
    ModelVersionRecord,
    ProduceCount,
)
from edge.store.reviews import (
    Dashboard,
    DashboardRow,
    FrameDetection,
    FrameImage,
    PrecisionPoint,
    QueueEntry,
    Review,
    ReviewConflictError,
    User,
)
from edge.store.shadow import ShadowBox, ShadowFrame
from edge.store.store import Store
from edge.store.waste import WasteRow

__all__ = [
    "Dashboard",
    "DashboardRow",
    "FrameDetection",
    "FrameImage",
    "PrecisionPoint",
    "QueueEntry",
    "Review",
    "ReviewConflictError",
    "User",
    "WasteRow",
    "FlagRecord",
    "FlagStatus",
    "FrameStatus",
    "FrameTally",
    "ItemRecord",
    "ModelVersionRecord",
    "NotFoundError",
    "ProduceCount",
    "ShadowBox",
    "ShadowFrame",
    "Store",
    "StoreError",
    "StoreUnavailableError",
    "StoreValueError",
]
