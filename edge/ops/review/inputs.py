"""Strict parsing of everything a review request sends: ids, queue filters, action bodies.

The review routes take raw strings and parse them here rather than through FastAPI's validation, whose 422 answers
quote the offending input back. Every refusal is a `BadReviewInput` (or `NotFound` for ids) naming the field only.
Ids are decimal digits and nothing else: a path, ``../``, an encoded or backslash variant is simply not an id.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlencode

from edge.ops.review.errors import BadReviewInput, NotFound
from edge.protocol import CAMERA_ID_PATTERN
from vision.options import is_int, is_number
from vision.taxonomy import Taxonomy

# fullmatch and ASCII digits only: ``$`` would also match before a trailing newline ("1\n"), and ``str.isdigit``
# accepts digits such as "²" that ``int`` refuses.
_ID = re.compile(r"[0-9]{1,18}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_WHOLE = re.compile(r"[0-9]{1,7}")
_STATUSES = ("pending", "reviewed", "all")
MAX_BULK = 500
MAX_ID = 10**18 - 1  # the most digits an id may have; well inside the stores' 64-bit integers
MAX_COORD = 1e6  # pixels: far beyond any frame, far below float overflow


def parse_whole(raw: str | None, field: str, low: int, high: int, default: int) -> int:
    """A whole number in ``low..high`` from a query parameter (ASCII digits only); ``default`` when absent."""
    text = (raw or "").strip() or str(default)
    if not _WHOLE.fullmatch(text) or not low <= int(text) <= high:
        raise BadReviewInput(f"{field}: must be a whole number from {low} to {high}")
    return int(text)


def parse_id(raw: str, what: str = "flag") -> int:
    """A positive integer id from a URL segment; `NotFound` (not 400: nothing is there) for anything else."""
    if not isinstance(raw, str) or not _ID.fullmatch(raw) or int(raw) <= 0:
        raise NotFound(f"no such {what}")
    return int(raw)


@dataclass(frozen=True)
class QueueFilter:
    """The queue's filters and page, as parsed from a query string."""

    camera: str | None = None
    produce: str | None = None
    status: str = "pending"
    day: date | None = None
    page: int = 1

    def query(self, **changes: Any) -> str:
        """This filter as a query string (with ``changes``), for links that keep the other filters."""
        values = {"camera": self.camera, "produce": self.produce, "status": self.status,
                  "date": self.day.isoformat() if self.day else None, "page": self.page}
        values.update(changes)
        return urlencode({k: v for k, v in values.items() if v not in (None, "")})


def parse_filter(params: Mapping[str, str], taxonomy: Taxonomy) -> QueueFilter:
    """Queue filters from query parameters; an empty value means "any"."""
    camera = (params.get("camera") or "").strip() or None
    if camera is not None and not CAMERA_ID_PATTERN.fullmatch(camera):
        raise BadReviewInput("camera: not a camera id")
    produce = (params.get("produce") or "").strip() or None
    if produce is not None and produce not in taxonomy.produce:
        raise BadReviewInput("produce: not a produce kind")
    status = (params.get("status") or "pending").strip()
    if status not in _STATUSES:
        raise BadReviewInput(f"status: must be one of {', '.join(_STATUSES)}")
    raw_day = (params.get("date") or "").strip()
    day = None
    if raw_day:
        try:
            if not _DATE.fullmatch(raw_day):
                raise ValueError
            day = date.fromisoformat(raw_day)
        except ValueError:
            raise BadReviewInput("date: must be a day as YYYY-MM-DD") from None
    page = parse_whole(params.get("page"), "page", 1, 1_000_000, 1)
    return QueueFilter(camera=camera, produce=produce, status=status, day=day, page=page)


@dataclass(frozen=True)
class Relabel:
    """A relabel: a new produce kind and/or condition."""

    produce: str | None
    condition: str | None


def parse_relabel(body: Any, taxonomy: Taxonomy) -> Relabel:
    """``{"produce": ..., "condition": ...}``, at least one of them, each a name of the taxonomy."""
    fields = _object(body, {"produce", "condition"})
    produce, condition = fields.get("produce") or None, fields.get("condition") or None
    if produce is None and condition is None:
        raise BadReviewInput("relabel: give produce and/or condition")
    if produce is not None and produce not in taxonomy.produce:
        raise BadReviewInput("produce: not a produce kind")
    if condition is not None and condition not in taxonomy.condition_names:
        raise BadReviewInput("condition: not a condition")
    return Relabel(produce=produce, condition=condition)


def parse_box(body: Any, width: int | None = None, height: int | None = None) -> tuple[float, float, float, float]:
    """``{"box": [x0, y0, x1, y1]}`` in frame pixels: finite, x0 < x1, y0 < y1, inside the frame when its size is
    known (clipped by at most a pixel of rounding)."""
    fields = _object(body, {"box"})
    raw = fields.get("box")
    if not isinstance(raw, list) or len(raw) != 4:
        raise BadReviewInput("box: must be a list [x0, y0, x1, y1]")
    values: list[float] = []
    for v in raw:
        # abs() before float(): a 400-digit int would overflow float() and math.isfinite()
        if not is_number(v) or not abs(v) <= MAX_COORD:
            raise BadReviewInput("box: coordinates must be finite numbers of pixels")
        values.append(float(v))
    x0, y0, x1, y1 = values
    if width is not None and height is not None:
        if min(x0, y0) < -1 or x1 > width + 1 or y1 > height + 1:
            raise BadReviewInput("box: must lie inside the frame")
        x0, y0, x1, y1 = max(x0, 0.0), max(y0, 0.0), min(x1, float(width)), min(y1, float(height))
    if not (x1 - x0 >= 2 and y1 - y0 >= 2):
        raise BadReviewInput("box: needs x0 < x1 and y0 < y1 (at least 2 pixels each way)")
    return (x0, y0, x1, y1)


def parse_bulk(body: Any) -> list[int]:
    """``{"flag_ids": [1, 2, ...]}``: 1 to `MAX_BULK` distinct positive ids."""
    fields = _object(body, {"flag_ids"})
    raw = fields.get("flag_ids")
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_BULK:
        raise BadReviewInput(f"flag_ids: must be a list of 1 to {MAX_BULK} flag ids")
    ids: list[int] = []
    for v in raw:
        if not is_int(v) or not 0 < v <= MAX_ID:
            raise BadReviewInput("flag_ids: every id must be a positive integer")
        if v not in ids:
            ids.append(v)
    return ids


def _object(body: Any, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadReviewInput("the body must be a JSON object")
    unknown = set(body) - allowed
    if unknown:
        raise BadReviewInput(f"unknown field(s); allowed: {', '.join(sorted(allowed))}")
    for key in ("produce", "condition"):
        if key in body and body[key] is not None and not isinstance(body[key], str):
            raise BadReviewInput(f"{key}: must be a string")
    return body
