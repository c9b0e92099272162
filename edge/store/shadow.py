"""Repository functions for shadow results: a shadow model's boxes on frames production processed, with agreement."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from edge.store.dialect import insert_on_conflict
from edge.store.errors import StoreValueError
from edge.store.schema import shadow_frames
from vision.options import is_int

_MAX_ID_LEN = 128


@dataclass(frozen=True)
class ShadowBox:
    """One box the shadow model found: xyxy in frame pixels, decoded class, confidence."""

    box: tuple[float, float, float, float]
    produce: str
    condition: str
    confidence: float

    def to_json(self) -> dict[str, Any]:
        """The stored form (boxes to 0.1 px, confidence to 1e-4: enough to compare, small to store)."""
        return {"box": [round(v, 1) for v in self.box], "produce": self.produce, "condition": self.condition,
                "confidence": round(self.confidence, 4)}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> ShadowBox:
        """Back from the stored form."""
        x0, y0, x1, y1 = (float(v) for v in raw["box"])
        return cls((x0, y0, x1, y1), str(raw["produce"]), str(raw["condition"]), float(raw["confidence"]))


@dataclass(frozen=True)
class ShadowFrame:
    """A shadow model's result on one frame: ``model_version`` (the shadow) found ``detections`` where
    ``production_version`` found ``n_production`` boxes; ``matched`` of them agree (see `edge.models.agreement`)."""

    camera_id: str
    seq: int
    model_version: str
    production_version: str
    n_production: int
    matched: int
    agreement: float
    detections: tuple[ShadowBox, ...]
    recorded_at: datetime | None = None  # set by the store

    @property
    def n_detections(self) -> int:
        """The shadow's box count."""
        return len(self.detections)


def check_shadow_frame(frame: ShadowFrame) -> None:
    """StoreValueError naming the frame when a value does not fit the table."""
    where = f"shadow frame {frame.camera_id}/{frame.seq}"
    for what, value in (("camera_id", frame.camera_id), ("model_version", frame.model_version),
                        ("production_version", frame.production_version)):
        if not isinstance(value, str) or not value or len(value) > _MAX_ID_LEN:
            raise StoreValueError(f"{where}: {what} must be a non-empty string of at most {_MAX_ID_LEN} characters")
    if not is_int(frame.seq) or frame.seq < 0:
        raise StoreValueError(f"{where}: seq must be an integer >= 0")
    if not (math.isfinite(frame.agreement) and 0.0 <= frame.agreement <= 1.0):
        raise StoreValueError(f"{where}: agreement must be within [0, 1], got {frame.agreement!r}")
    if not 0 <= frame.matched <= min(frame.n_production, frame.n_detections):
        raise StoreValueError(f"{where}: matched {frame.matched} exceeds the box counts")


def insert_shadow_frames(conn: Connection, frames: Sequence[ShadowFrame], now: datetime) -> int:
    """Insert the frames not stored yet ((camera_id, seq, model_version) is unique: a resent frame scored again is
    not stored twice); returns how many were new."""
    new = 0
    for f in frames:
        stmt = (
            insert_on_conflict(conn, shadow_frames)
            .values(
                camera_id=f.camera_id, seq=f.seq, model_version=f.model_version,
                production_version=f.production_version, n_detections=f.n_detections, n_production=f.n_production,
                matched=f.matched, agreement=float(f.agreement), detections=[d.to_json() for d in f.detections],
                recorded_at=now,
            )
            .on_conflict_do_nothing(
                index_elements=[shadow_frames.c.camera_id, shadow_frames.c.seq, shadow_frames.c.model_version]
            )
            .returning(shadow_frames.c.id)
        )
        if conn.execute(stmt).scalar_one_or_none() is not None:
            new += 1
    return new


def query_shadow_frames(
    conn: Connection, *, camera_id: str | None, model_version: str | None, limit: int | None
) -> list[ShadowFrame]:
    """Stored shadow results, oldest first, filtered by camera and shadow version."""
    t = shadow_frames
    stmt = select(t).order_by(t.c.id)
    if camera_id is not None:
        stmt = stmt.where(t.c.camera_id == camera_id)
    if model_version is not None:
        stmt = stmt.where(t.c.model_version == model_version)
    if limit is not None:
        stmt = stmt.limit(limit)
    return [
        ShadowFrame(
            camera_id=r.camera_id, seq=r.seq, model_version=r.model_version, production_version=r.production_version,
            n_production=r.n_production, matched=r.matched, agreement=r.agreement,
            detections=tuple(ShadowBox.from_json(d) for d in r.detections), recorded_at=r.recorded_at,
        )
        for r in conn.execute(stmt)
    ]
