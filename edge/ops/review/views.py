"""The queue as the page and the API show it: one page of entries under a filter, and JSON forms of the store's
review values."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from edge.ops.review.context import PREFIX
from edge.ops.review.inputs import QueueFilter
from edge.store.reviews import QueueEntry, Review
from edge.store.store import Store


@dataclass(frozen=True)
class QueuePage:
    """One page of the review queue."""

    filter: QueueFilter
    entries: list[QueueEntry]
    total: int
    page_size: int

    @property
    def pages(self) -> int:
        """Number of pages (at least 1)."""
        return max(1, math.ceil(self.total / self.page_size))

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"page": self.filter.page, "pages": self.pages, "total": self.total, "page_size": self.page_size,
                "entries": [entry_dict(e) for e in self.entries]}


def load_page(store: Store, f: QueueFilter, page_size: int) -> QueuePage:
    """The entries of page ``f.page`` under filter ``f``, oldest unreviewed first, and the total for the pager."""
    kwargs = {"camera": f.camera, "produce": f.produce, "status": f.status, "date": f.day}
    total = store.review_count(**kwargs)
    entries = store.review_queue(**kwargs, offset=(f.page - 1) * page_size, limit=page_size)
    return QueuePage(filter=f, entries=entries, total=total, page_size=page_size)


def _time(t: datetime | None) -> str | None:
    return None if t is None else t.isoformat()


def entry_dict(e: QueueEntry) -> dict[str, Any]:
    """A queue entry as JSON, with the URLs of its crop and frame."""
    return {
        "flag_id": e.flag_id,
        "item_id": e.item_id,
        "camera_id": e.camera_id,
        "status": e.status,
        "produce": e.produce,
        "condition": e.condition,
        "box": None if e.box is None else list(e.box),
        "detected_produce": e.detected_produce,
        "detected_condition": e.detected_condition,
        "detected_box": None if e.detected_box is None else list(e.detected_box),
        "freshness": round(float(e.freshness), 4),
        "sku": e.sku,
        "counted_at": _time(e.counted_at),
        "model_version": e.model_version,
        "reviewed_by": e.reviewed_by,
        "reviewed_at": _time(e.reviewed_at),
        "crop_url": f"{PREFIX}/crops/{e.flag_id}" if e.has_crop else None,
        "frame_url": f"{PREFIX}/frames/{e.flag_id}" if e.has_frame else None,
    }


def review_dict(r: Review) -> dict[str, Any]:
    """An audit-trail row as JSON."""
    return {
        "id": r.id,
        "flag_id": r.flag_id,
        "item_id": r.item_id,
        "action": r.action,
        "reviewer": r.reviewer,
        "at": _time(r.at),
        "status": r.status,
        "produce": r.produce,
        "condition": r.condition,
        "box": None if r.box is None else list(r.box),
        "undoes": r.undoes,
        "undone_by": r.undone_by,
        "batch_id": r.batch_id,
    }
