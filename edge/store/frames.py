"""Repository functions for the frames table: the idempotency record of every frame processed or dropped."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, func, select

from edge.store.dialect import insert_on_conflict
from edge.store.records import FrameStatus, FrameTally
from edge.store.schema import frames


def insert_frame(
    conn: Connection,
    *,
    camera_id: str,
    seq: int,
    status: FrameStatus,
    reason: str | None,
    captured_at: datetime | None,
    received_at: datetime,
    recorded_at: datetime,
    model_version: str | None,
    detections_count: int | None,
) -> int | None:
    """Insert the frame row and return its id, or None when (camera_id, seq) is already recorded.

    The unique constraint decides, so this holds with any number of writers; a caller that gets None must write
    nothing else for this frame.
    """
    stmt = (
        insert_on_conflict(conn, frames)
        .values(
            camera_id=camera_id,
            seq=seq,
            status=status,
            reason=reason,
            captured_at=captured_at,
            received_at=received_at,
            recorded_at=recorded_at,
            model_version=model_version,
            detections_count=detections_count,
        )
        .on_conflict_do_nothing(index_elements=[frames.c.camera_id, frames.c.seq])
        .returning(frames.c.id)
    )
    frame_id: int | None = conn.execute(stmt).scalar_one_or_none()
    return frame_id


def frame_status(conn: Connection, camera_id: str, seq: int) -> FrameStatus | None:
    """'processed' or 'dropped' when the frame was finished with, None when the store has never seen it."""
    stmt = select(frames.c.status).where(frames.c.camera_id == camera_id, frames.c.seq == seq)
    status: FrameStatus | None = conn.execute(stmt).scalar_one_or_none()  # the CHECK constraint bounds it
    return status


def last_seq(conn: Connection, camera_id: str) -> int | None:
    """The highest seq recorded for the camera (processed or dropped), None for a camera never seen."""
    highest: int | None = conn.execute(
        select(func.max(frames.c.seq)).where(frames.c.camera_id == camera_id)
    ).scalar_one()
    return highest


def tallies(conn: Connection, camera_id: str | None = None) -> list[FrameTally]:
    """Per camera: frames processed and frames dropped per reason, sorted by camera id."""
    stmt = select(frames.c.camera_id, frames.c.status, frames.c.reason, func.count()).group_by(
        frames.c.camera_id, frames.c.status, frames.c.reason
    )
    if camera_id is not None:
        stmt = stmt.where(frames.c.camera_id == camera_id)
    processed: dict[str, int] = {}
    dropped: dict[str, dict[str, int]] = {}
    for cam, status, reason, n in conn.execute(stmt):
        processed.setdefault(cam, 0)
        dropped.setdefault(cam, {})
        if status == "processed":
            processed[cam] += n
        else:
            dropped[cam][reason or ""] = dropped[cam].get(reason or "", 0) + n
    return [FrameTally(camera_id=cam, processed=processed[cam], dropped=dropped[cam]) for cam in sorted(processed)]


def frame_versions(conn: Connection, camera_id: str) -> dict[int, str | None]:
    """seq -> the model version that detected it, for every processed frame of the camera."""
    stmt = select(frames.c.seq, frames.c.model_version).where(
        frames.c.camera_id == camera_id, frames.c.status == "processed"
    )
    return {int(seq): version for seq, version in conn.execute(stmt)}
