"""Repository functions for tracker checkpoints: one JSON state per camera, as of its latest committed frame."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from edge.store.dialect import insert_on_conflict
from edge.store.schema import tracker_checkpoints


def save_checkpoint(conn: Connection, camera_id: str, seq: int, state: Mapping[str, Any], now: datetime) -> None:
    """Store ``state`` as the camera's checkpoint at frame ``seq``; an older seq never replaces a newer one."""
    stmt = insert_on_conflict(conn, tracker_checkpoints).values(
        camera_id=camera_id, seq=seq, state=dict(state), updated_at=now
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[tracker_checkpoints.c.camera_id],
        set_={"seq": stmt.excluded.seq, "state": stmt.excluded.state, "updated_at": stmt.excluded.updated_at},
        where=tracker_checkpoints.c.seq < stmt.excluded.seq,
    )
    conn.execute(stmt)


def load_checkpoint(conn: Connection, camera_id: str) -> dict[str, Any] | None:
    """The camera's latest checkpoint state, None when it has none."""
    stmt = select(tracker_checkpoints.c.state).where(tracker_checkpoints.c.camera_id == camera_id)
    return conn.execute(stmt).scalar_one_or_none()
