"""Strict parsing of what a review request sends besides its typed ids and bodies: queue filters and other query
parameters, and the checks of an action that need more than its body (the taxonomy, the frame's size).

Query parameters are parsed here from raw strings rather than through FastAPI's validation, whose 422 answers quote
the offending input back. Every refusal is a `BadReviewInput` naming the field only. Ids in URLs and action bodies
are typed values (`edge.ops.review.api_models`), whose refusals `edge.ops.review.api_route` answers the same way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request

from edge.ops.review.errors import BadReviewInput
from edge.protocol import CAMERA_ID_PATTERN
from vision.taxonomy import Taxonomy

# fullmatch and ASCII digits only: ``$`` would also match before a trailing newline ("1\n"), ``str.isdigit``
# accepts digits such as "²" that ``int`` refuses, and pydantic's int parsing strips whitespace and takes "1_0".
ID_PATTERN = re.compile(r"[0-9]{1,18}")  # an id in a URL: decimal digits and nothing else
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


def check_relabel(produce: str | None, condition: str | None, taxonomy: Taxonomy) -> tuple[str | None, str | None]:
    """A relabel's produce kind and condition (an empty one is None: unchanged), each a name of ``taxonomy``."""
    produce, condition = produce or None, condition or None
    if produce is None and condition is None:
        raise BadReviewInput("relabel: give produce and/or condition")
    if produce is not None and produce not in taxonomy.produce:
        raise BadReviewInput("produce: not a produce kind")
    if condition is not None and condition not in taxonomy.condition_names:
        raise BadReviewInput("condition: not a condition")
    return produce, condition


def fit_box(
    box: tuple[float, float, float, float], width: int | None = None, height: int | None = None
) -> tuple[float, float, float, float]:
    """A corrected box ``(x0, y0, x1, y1)`` in frame pixels (finite: `edge.ops.review.api_models.BoxBody`), inside
    the frame when its size is known (clipped by at most a pixel of rounding), at least 2 pixels each way."""
    x0, y0, x1, y1 = box
    if width is not None and height is not None:
        if min(x0, y0) < -1 or x1 > width + 1 or y1 > height + 1:
            raise BadReviewInput("box: must lie inside the frame")
        x0, y0, x1, y1 = max(x0, 0.0), max(y0, 0.0), min(x1, float(width)), min(y1, float(height))
    if not (x1 - x0 >= 2 and y1 - y0 >= 2):
        raise BadReviewInput("box: needs x0 < x1 and y0 < y1 (at least 2 pixels each way)")
    return (x0, y0, x1, y1)


async def capped_body(request: Request, limit: int) -> bytes | None:
    """The request's body, or None as soon as it passes ``limit`` bytes (the rest is never read: a client cannot
    make the page buffer more than it would ever accept)."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return body


def media_type(request: Request) -> str:
    """The request's Content-Type without its parameters (``text/plain; charset=utf-8`` -> ``text/plain``)."""
    return request.headers.get("content-type", "").split(";")[0].strip()
