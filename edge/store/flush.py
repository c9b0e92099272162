"""Repository function for a camera's idle flush: the counted items its counter still held, and the checkpoint left
after their tracks ended, in one transaction.

A counter hands an item on when its track ends; when a camera goes quiet the service ends every track (`flush`) and
commits what it handed on. The flush belongs to the camera's last finished frame (``after_seq``): when a later frame
of the camera is already recorded the flush is stale and nothing is written. Flushing is idempotent twice over: the
checkpoint written with the items says they were handed on (a flush from it hands on nothing), and an item already
stored (same camera, track, first and counted frame) is never stored again, even after a commit whose outcome the
caller could not see.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from edge.store import items as item_repo
from edge.store.schema import frames, items, tracker_checkpoints


def commit_flush(
    conn: Connection,
    *,
    camera_id: str,
    after_seq: int,
    rows: Sequence[dict[str, Any]],
    crops_jpeg: Sequence[bytes | None],
    checkpoint: Mapping[str, Any],
    now: datetime,
) -> list[int] | None:
    """Store the flushed item ``rows`` (with their crops) not stored yet and make ``checkpoint`` the camera's state
    as of frame ``after_seq``; returns the positions in ``rows`` of the items stored now, or None (nothing written)
    when the camera has a frame recorded after ``after_seq``."""
    # Serialise flushes of one camera (PostgreSQL row lock; SQLite's write transaction already admits one writer).
    conn.execute(
        select(tracker_checkpoints.c.seq).where(tracker_checkpoints.c.camera_id == camera_id).with_for_update()
    ).first()
    later = conn.execute(
        select(frames.c.id).where(frames.c.camera_id == camera_id, frames.c.seq > after_seq).limit(1)
    ).first()
    if later is not None:
        return None
    new = [i for i, row in enumerate(rows) if not _stored(conn, row)]
    item_repo.insert_items(conn, [rows[i] for i in new], [crops_jpeg[i] for i in new], now)
    state = dict(checkpoint)
    changed = conn.execute(
        update(tracker_checkpoints)
        .where(tracker_checkpoints.c.camera_id == camera_id)
        .values(seq=after_seq, state=state, updated_at=now)
    ).rowcount
    if not changed:
        conn.execute(insert(tracker_checkpoints).values(camera_id=camera_id, seq=after_seq, state=state, updated_at=now))
    return new


def _stored(conn: Connection, row: Mapping[str, Any]) -> bool:
    """Whether this counted item is already in the store (a track id is unique per camera counter; first and
    counted frame guard against a counter that started over with the same ids)."""
    stmt = select(items.c.id).where(
        items.c.camera_id == row["camera_id"],
        # the counted_at it would get: the (camera_id, counted_at) index finds it without scanning the camera's items
        items.c.counted_at == item_repo._counted_at(conn, dict(row)),
        items.c.track_id == row["track_id"],
        items.c.first_seq == row["first_seq"],
        items.c.counted_seq == row["counted_seq"],
    )
    return conn.execute(stmt.limit(1)).first() is not None
