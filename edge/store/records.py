"""What the store's queries return: small frozen values, times as aware UTC datetimes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

FrameStatus = Literal["processed", "dropped"]
FlagStatus = Literal["pending", "confirmed", "rejected"]


@dataclass(frozen=True)
class ItemRecord:
    """A stored item: the tracker's `Item` (without its crop) plus its stable id and the time it was counted."""

    id: int
    camera_id: str
    track_id: int
    first_seq: int
    last_seq: int
    counted_seq: int
    best_seq: int | None
    first_seen_at: datetime
    last_seen_at: datetime
    counted_at: datetime  # capture time of frame counted_seq: when the item crossed the line
    produce: str
    condition: str
    freshness: float
    flagged: bool
    votes: dict[str, int]
    frames: int
    best_box: tuple[float, float, float, float] | None  # xyxy in frame best_seq
    sku: str | None
    model_version: str | None
    inferred: bool  # counted from belt motion: the crossing itself was not observed


@dataclass(frozen=True)
class FlagRecord:
    """A flagged item waiting for review (or reviewed); the crop is fetched separately with ``Store.crop(id)``."""

    id: int
    status: FlagStatus
    created_at: datetime
    has_crop: bool
    item: ItemRecord


@dataclass(frozen=True)
class ProduceCount:
    """Items counted and flagged for one produce kind."""

    produce: str
    items: int
    flagged: int


@dataclass(frozen=True)
class FrameTally:
    """Frames one camera's stream ended in: processed, or dropped with a reason (reason -> frames)."""

    camera_id: str
    processed: int
    dropped: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Every frame the service has finished with; equals frames captured when none were lost."""
        return self.processed + sum(self.dropped.values())


@dataclass(frozen=True)
class ModelVersionRecord:
    """A model version that was loaded, with its latest load (stage, provider) and how often it was loaded."""

    version: str
    sha256: str
    first_loaded_at: datetime
    last_loaded_at: datetime
    stage: str
    provider: str
    loads: int
