"""Strict parsing of what a review request sends besides its ids and bodies: the typed query models of the queue
(`QueueFilter`, its produce checked against the taxonomy by `QueueFilter.for_taxonomy`), and the checks of an action
that need more than its body (the taxonomy, the frame's size).

FastAPI parses query strings into these models; each field's validator refuses a bad value with a
`REVIEW_INPUT` error whose message names the field and never quotes the input, and `edge.ops.review.api_route`
answers it as the page's ``{"error": ...}`` 400, never FastAPI's 422. Every other refusal here is a `BadReviewInput`.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError
from starlette.requests import Request

from edge.ops.feed.api import iso_day
from edge.ops.review.errors import BadReviewInput
from edge.protocol import CAMERA_ID_PATTERN
from vision.taxonomy import Taxonomy

# fullmatch and ASCII digits only: ``$`` would also match before a trailing newline ("1\n"), ``str.isdigit``
# accepts digits such as "²" that ``int`` refuses, and pydantic's int parsing strips whitespace and takes "1_0".
ID_PATTERN = re.compile(r"[0-9]{1,18}")  # an id in a URL: decimal digits and nothing else
_WHOLE = re.compile(r"[0-9]{1,7}")
_STATUSES = ("pending", "reviewed", "all")
MAX_BULK = 500
MAX_ID = 10**18 - 1  # the most digits an id may have; well inside the stores' 64-bit integers
MAX_COORD = 1e6  # pixels: far beyond any frame, far below float overflow
MAX_PAGE = 1_000_000

# The custom pydantic error type whose message is the answer as it stands (written here, never quoting the input).
REVIEW_INPUT = "review_input"


def refusal(message: str) -> PydanticCustomError:
    """A validation error answered as ``{"error": message}`` (400) by the review API's route class."""
    return PydanticCustomError(REVIEW_INPUT, message)


def whole(raw: Any, field: str, low: int, high: int, default: int) -> int:
    """A whole number in ``low..high`` from a query parameter (ASCII digits only); ``default`` when empty."""
    if raw is None or isinstance(raw, str):
        text = (raw or "").strip() or str(default)
    else:  # a filter built in Python: an int stands for its digits, anything else is refused
        text = str(raw) if isinstance(raw, int) and not isinstance(raw, bool) else ""
    if not _WHOLE.fullmatch(text) or not low <= int(text) <= high:
        raise refusal(f"{field}: must be a whole number from {low} to {high}")
    return int(text)


def _text(raw: Any) -> str | None:
    """A query value stripped; None when empty ("any")."""
    return (raw.strip() or None) if isinstance(raw, str) else raw


def _camera(raw: Any) -> str | None:
    camera = _text(raw)
    if camera is not None and not (isinstance(camera, str) and CAMERA_ID_PATTERN.fullmatch(camera)):
        raise refusal("camera: not a camera id")
    return camera


def _status(raw: Any) -> str:
    status = _text(raw) or "pending"
    if status not in _STATUSES:
        raise refusal(f"status: must be one of {', '.join(_STATUSES)}")
    return status


def _day(raw: Any) -> date | None:
    if isinstance(raw, date) or raw is None:
        return raw
    text = _text(raw)
    if text is None:
        return None
    try:
        return iso_day(text)
    except ValueError:
        raise refusal("date: must be a day as YYYY-MM-DD") from None


def _page(raw: Any) -> int:
    return whole(raw, "page", 1, MAX_PAGE, 1)


class QueueFilter(BaseModel):
    """The queue's filters and page, from the query string ``camera=&produce=&status=&date=&page=``; an empty value
    means "any" (status: pending, page: 1). Unknown parameters are ignored."""

    model_config = ConfigDict(frozen=True, validate_by_name=True, validate_by_alias=True)

    camera: Annotated[str | None, BeforeValidator(_camera)] = None
    produce: Annotated[str | None, BeforeValidator(_text)] = None  # a produce kind: `for_taxonomy`
    status: Annotated[str, BeforeValidator(_status)] = "pending"
    day: Annotated[date | None, BeforeValidator(_day), Field(alias="date")] = None
    page: Annotated[int, BeforeValidator(_page)] = 1

    def query(self, **changes: Any) -> str:
        """This filter as a query string (with ``changes``), for links that keep the other filters."""
        values = {"camera": self.camera, "produce": self.produce, "status": self.status,
                  "date": self.day.isoformat() if self.day else None, "page": self.page}
        values.update(changes)
        return urlencode({k: v for k, v in values.items() if v not in (None, "")})

    @classmethod
    def for_taxonomy(cls, taxonomy: Taxonomy) -> type[QueueFilter]:
        """The filter whose ``produce`` must be a produce kind of ``taxonomy`` (checked in field order, as a query
        parameter of a route)."""
        kinds = frozenset(taxonomy.produce)

        class TaxonomyQueueFilter(cls):  # type: ignore[misc, valid-type]
            @field_validator("produce")
            @classmethod
            def _known_produce(cls, produce: str | None) -> str | None:
                if produce is not None and produce not in kinds:
                    raise refusal("produce: not a produce kind")
                return produce

        return TaxonomyQueueFilter


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
