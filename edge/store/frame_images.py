"""Repository functions for whole frames (JPEG) and every detection in them.

The service stores the frame a flagged item was seen best in (its best_seq): the review page shows it with the box
drawn, and `qc dataset from-reviews` turns it into a training sample with corrected labels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select

from edge.store.dialect import insert_on_conflict
from edge.store.errors import NotFoundError, StoreValueError
from edge.store.review_queue import check_id, get_entry
from edge.store.reviews import FrameDetection, FrameImage
from edge.store.schema import frame_detections, frame_images
from edge.store.timestamps import Timestamp, to_utc, utc_now
from vision.options import is_int

if TYPE_CHECKING:
    from vision.detections import Detections
    from vision.taxonomy import Taxonomy

MAX_FRAME_BYTES = 8 * 1024 * 1024  # a 4K JPEG at high quality stays well below this
_MAX_SIDE = 16384
_MAX_ID_LEN = 128  # camera ids: the String(128) columns


def frame_detections_from(detections: Detections, taxonomy: Taxonomy) -> list[FrameDetection]:
    """`FrameDetection` values for a frame's `Detections` (class ids decoded with ``taxonomy``; ``tracker_id``, the
    counter's item id in `CountResult.tracked`, kept as track_id)."""
    out: list[FrameDetection] = []
    n = len(detections.xyxy)
    tracker = detections.tracker_id
    fresh = detections.freshness
    for i in range(n):
        produce, condition = taxonomy.split_class(int(detections.class_id[i]))
        track = None if tracker is None or int(tracker[i]) < 0 else int(tracker[i])
        out.append(
            FrameDetection(
                box=tuple(float(v) for v in detections.xyxy[i]),  # type: ignore[arg-type]
                produce=produce,
                condition=condition,
                confidence=float(detections.confidence[i]),
                freshness=None if fresh is None else float(fresh[i]),
                track_id=track,
            )
        )
    return out


def check_frame(jpeg: bytes, width: int, height: int, detections: Sequence[FrameDetection], where: str) -> None:
    """StoreValueError naming the frame when its bytes, size or a detection are unusable."""
    if not isinstance(jpeg, (bytes, bytearray, memoryview)) or not 0 < len(jpeg) <= MAX_FRAME_BYTES:
        raise StoreValueError(f"{where}: jpeg must be non-empty bytes of at most {MAX_FRAME_BYTES} bytes")
    if bytes(jpeg[:2]) != b"\xff\xd8":
        raise StoreValueError(f"{where}: jpeg does not start with a JPEG marker (FF D8)")
    for what, v in (("width", width), ("height", height)):
        if not is_int(v) or not 0 < v <= _MAX_SIDE:
            raise StoreValueError(f"{where}: {what} must be an integer within [1, {_MAX_SIDE}], got {v!r}")
    for i, det in enumerate(detections):
        if not isinstance(det, FrameDetection):
            raise StoreValueError(f"{where}: detection {i} is a {type(det).__name__}, not a FrameDetection")
        if len(det.box) != 4 or not all(math.isfinite(float(v)) for v in det.box):
            raise StoreValueError(f"{where}: detection {i} box must be 4 finite numbers, got {det.box!r}")
        for what, v in (("produce", det.produce), ("condition", det.condition)):
            if not isinstance(v, str) or not 0 < len(v) <= 64:
                raise StoreValueError(f"{where}: detection {i} {what} must be a non-empty string (<= 64 chars)")
        if not math.isfinite(float(det.confidence)):
            raise StoreValueError(f"{where}: detection {i} confidence must be finite")


def save_frame_image(
    conn: Connection,
    camera_id: str,
    seq: int,
    jpeg: bytes,
    width: int,
    height: int,
    detections: Sequence[FrameDetection] | Detections,
    captured_at: Timestamp | None = None,
    *,
    taxonomy: Taxonomy | None = None,
    now: datetime | None = None,
) -> bool:
    """Check and store a whole frame and every detection in it; False, writing nothing, when (camera_id, seq) is
    already stored (idempotent).

    ``detections``: `FrameDetection` values, or the frame's `vision.detections.Detections` (the counter's
    ``CountResult.tracked``, whose tracker ids are item ids) together with ``taxonomy`` to name the classes.
    StoreValueError naming the frame for a bad key, JPEG, size or detection.
    """
    if not isinstance(camera_id, str) or not 0 < len(camera_id) <= _MAX_ID_LEN:
        raise StoreValueError(f"camera id must be a non-empty string of at most {_MAX_ID_LEN} characters")
    seq = check_id(seq, f"frame {camera_id}: seq", minimum=0)
    where = f"frame image {camera_id}/{seq}"
    if not isinstance(detections, Sequence):
        if taxonomy is None:
            raise StoreValueError(f"{where}: Detections need the taxonomy that names their class ids")
        detections = frame_detections_from(detections, taxonomy)
    dets = list(detections)
    check_frame(jpeg, width, height, dets, where)
    captured = None if captured_at is None else to_utc(captured_at, "captured_at")
    return insert_frame_image(
        conn, camera_id=camera_id, seq=seq, jpeg=bytes(jpeg), width=width, height=height, captured_at=captured,
        detections=dets, now=now or utc_now(),
    )


def insert_frame_image(
    conn: Connection,
    *,
    camera_id: str,
    seq: int,
    jpeg: bytes,
    width: int,
    height: int,
    captured_at: datetime | None,
    detections: Sequence[FrameDetection],
    now: datetime,
) -> bool:
    """Insert the frame and its detections; False, writing nothing, when (camera_id, seq) is already stored."""
    stmt = (
        insert_on_conflict(conn, frame_images)
        .values(
            camera_id=camera_id,
            seq=seq,
            captured_at=captured_at,
            width=width,
            height=height,
            jpeg=bytes(jpeg),
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["camera_id", "seq"])
        .returning(frame_images.c.id)
    )
    frame_id = conn.execute(stmt).scalar_one_or_none()
    if frame_id is None:
        return False
    if detections:
        conn.execute(frame_detections.insert(), [_detection_row(frame_id, i, d) for i, d in enumerate(detections)])
    return True


def _detection_row(frame_id: int, idx: int, det: FrameDetection) -> dict[str, Any]:
    x0, y0, x1, y1 = (float(v) for v in det.box)
    return {
        "frame_image_id": frame_id,
        "idx": idx,
        "x0": x0,
        "y0": y0,
        "x1": x1,
        "y1": y1,
        "produce": det.produce,
        "condition": det.condition,
        "confidence": float(det.confidence),
        "freshness": None if det.freshness is None else float(det.freshness),
        "track_id": None if det.track_id is None else int(det.track_id),
    }


def get_frame_image(conn: Connection, camera_id: str, seq: int) -> FrameImage:
    """The stored frame (camera_id, seq) with its detections in stored order; NotFoundError when there is none."""
    row = conn.execute(
        select(frame_images).where(frame_images.c.camera_id == camera_id, frame_images.c.seq == seq)
    ).one_or_none()
    if row is None:
        raise NotFoundError(f"no stored frame image {camera_id}/{seq}")
    dets = conn.execute(
        select(frame_detections)
        .where(frame_detections.c.frame_image_id == row.id)
        .order_by(frame_detections.c.idx)
    )
    return FrameImage(
        camera_id=row.camera_id,
        seq=row.seq,
        jpeg=bytes(row.jpeg),
        width=row.width,
        height=row.height,
        captured_at=row.captured_at,
        detections=tuple(_detection(d) for d in dets),
    )


def flag_frame(conn: Connection, flag_id: int) -> FrameImage:
    """The whole frame a flag's item was seen best in (its best_seq); NotFoundError when the flag or that frame is
    not stored."""
    entry = get_entry(conn, flag_id)
    if entry.best_seq is None or not entry.has_frame:
        raise NotFoundError(f"no stored frame for flag id {flag_id}")
    return get_frame_image(conn, entry.camera_id, entry.best_seq)


def _detection(row: Any) -> FrameDetection:
    return FrameDetection(
        box=(row.x0, row.y0, row.x1, row.y1),
        produce=row.produce,
        condition=row.condition,
        confidence=row.confidence,
        freshness=row.freshness,
        track_id=row.track_id,
    )


def frame_size(conn: Connection, camera_id: str, seq: int) -> tuple[int, int] | None:
    """(width, height) of a stored frame, None when it is not stored."""
    row = conn.execute(
        select(frame_images.c.width, frame_images.c.height).where(
            frame_images.c.camera_id == camera_id, frame_images.c.seq == seq
        )
    ).one_or_none()
    return None if row is None else (int(row.width), int(row.height))
