"""The edge store: frames seen (idempotency), items, flags + crops, tracker checkpoints, model versions.

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
from edge.store.store import Store

__all__ = [
    "FlagRecord",
    "FlagStatus",
    "FrameStatus",
    "FrameTally",
    "ItemRecord",
    "ModelVersionRecord",
    "NotFoundError",
    "ProduceCount",
    "Store",
    "StoreError",
    "StoreUnavailableError",
    "StoreValueError",
]
