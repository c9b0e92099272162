"""The review API's values: the typed flag id of its URLs, the request body of each action and the JSON forms of the
store's review values (``response_model=`` of the routes in `edge.ops.review.queue_routes`); the query models are in
`edge.ops.review.inputs`.

Request bodies are strict (no "2" for 2, no true for 1, no unknown field) and their refusals are answered by
`edge.ops.review.api_route` as the page's usual ``{"error": ...}`` 400, naming the field and never quoting the input:
each body model says which message belongs to which field (`FIELD_ERRORS`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar

from fastapi import Path
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from edge.ops.review.context import PREFIX
from edge.ops.review.inputs import ID_PATTERN, MAX_BULK, MAX_COORD, MAX_ID, REVIEW_INPUT
from edge.ops.review.views import QueuePage
from edge.store.reviews import QueueEntry, Review

def _digits(raw: Any) -> Any:
    """A URL segment of decimal digits as an int; anything else is refused before pydantic's lenient int parsing."""
    if isinstance(raw, str) and ID_PATTERN.fullmatch(raw):
        return int(raw)
    raise PydanticCustomError("id_digits", "not an id")


# A flag id in a URL: 1..MAX_ID, digits only. A refused one is a 404 ("no such flag"): nothing is there.
FlagId = Annotated[int, BeforeValidator(_digits), Path(ge=1, le=MAX_ID)]

_Coordinate = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=-MAX_COORD, le=MAX_COORD)]
_BulkId = Annotated[int, Field(strict=True, ge=1, le=MAX_ID)]


class ReviewBody(BaseModel):
    """A request body of the review API: a JSON object with these fields only, types as they are."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    # field -> (message when the field is wrong as a whole, message when one of its elements is)
    FIELD_ERRORS: ClassVar[dict[str, tuple[str, str]]] = {}


class RelabelBody(ReviewBody):
    """``{"produce": ..., "condition": ...}``: at least one of them (an empty string is "unchanged"); whether each is
    a name of the taxonomy is checked by the route, which knows the taxonomy."""

    produce: str | None = None
    condition: str | None = None

    FIELD_ERRORS: ClassVar[dict[str, tuple[str, str]]] = {
        "produce": ("produce: must be a string", "produce: must be a string"),
        "condition": ("condition: must be a string", "condition: must be a string"),
    }

    @model_validator(mode="after")
    def _one_change(self) -> RelabelBody:
        if not self.produce and not self.condition:
            raise PydanticCustomError(REVIEW_INPUT, "relabel: give produce and/or condition")
        return self


class BoxBody(ReviewBody):
    """``{"box": [x0, y0, x1, y1]}`` in pixels of the item's whole frame; the frame's bounds and the box's size are
    checked by the route (`edge.ops.review.inputs.fit_box`), which knows the frame."""

    box: Annotated[list[_Coordinate], Field(min_length=4, max_length=4)]

    FIELD_ERRORS: ClassVar[dict[str, tuple[str, str]]] = {
        "box": ("box: must be a list [x0, y0, x1, y1]", "box: coordinates must be finite numbers of pixels"),
    }

    @property
    def corners(self) -> tuple[float, float, float, float]:
        """The box as ``(x0, y0, x1, y1)``."""
        x0, y0, x1, y1 = self.box
        return (x0, y0, x1, y1)


class BulkBody(ReviewBody):
    """``{"flag_ids": [1, 2, ...]}``: 1 to `MAX_BULK` positive ids (a repeated id counts once)."""

    flag_ids: Annotated[list[_BulkId], Field(min_length=1, max_length=MAX_BULK)]

    FIELD_ERRORS: ClassVar[dict[str, tuple[str, str]]] = {
        "flag_ids": (f"flag_ids: must be a list of 1 to {MAX_BULK} flag ids",
                     "flag_ids: every id must be a positive integer"),
    }

    @property
    def ids(self) -> list[int]:
        """The distinct ids, in the order given."""
        return list(dict.fromkeys(self.flag_ids))


def _time(t: datetime | None) -> str | None:
    # isoformat, not pydantic's datetime form: the page has always been sent "+00:00", never "Z"
    return None if t is None else t.isoformat()


def _box(box: tuple[float, ...] | None) -> list[float] | None:
    return None if box is None else list(box)


class EntryOut(BaseModel):
    """A queue entry as JSON, with the URLs of its crop and frame."""

    flag_id: int
    item_id: int
    camera_id: str
    status: str
    produce: str
    condition: str
    box: list[float] | None
    detected_produce: str
    detected_condition: str
    detected_box: list[float] | None
    freshness: float
    sku: str | None
    counted_at: str | None
    model_version: str | None
    reviewed_by: str | None
    reviewed_at: str | None
    crop_url: str | None
    frame_url: str | None

    @classmethod
    def of(cls, e: QueueEntry) -> EntryOut:
        """The JSON form of ``e``."""
        return cls(
            flag_id=e.flag_id, item_id=e.item_id, camera_id=e.camera_id, status=e.status, produce=e.produce,
            condition=e.condition, box=_box(e.box), detected_produce=e.detected_produce,
            detected_condition=e.detected_condition, detected_box=_box(e.detected_box),
            freshness=round(float(e.freshness), 4), sku=e.sku, counted_at=_time(e.counted_at),
            model_version=e.model_version, reviewed_by=e.reviewed_by, reviewed_at=_time(e.reviewed_at),
            crop_url=f"{PREFIX}/crops/{e.flag_id}" if e.has_crop else None,
            frame_url=f"{PREFIX}/frames/{e.flag_id}" if e.has_frame else None,
        )


class ReviewOut(BaseModel):
    """An audit-trail row as JSON."""

    id: int
    flag_id: int
    item_id: int
    action: str
    reviewer: str
    at: str | None
    status: str
    produce: str | None
    condition: str | None
    box: list[float] | None
    undoes: int | None
    undone_by: int | None
    batch_id: str | None

    @classmethod
    def of(cls, r: Review) -> ReviewOut:
        """The JSON form of ``r``."""
        return cls(id=r.id, flag_id=r.flag_id, item_id=r.item_id, action=r.action, reviewer=r.reviewer,
                   at=_time(r.at), status=r.status, produce=r.produce, condition=r.condition, box=_box(r.box),
                   undoes=r.undoes, undone_by=r.undone_by, batch_id=r.batch_id)


class QueuePageOut(BaseModel):
    """One page of the queue: the pager's numbers and the entries."""

    page: int
    pages: int
    total: int
    page_size: int
    entries: list[EntryOut]

    @classmethod
    def of(cls, page: QueuePage) -> QueuePageOut:
        """The JSON form of ``page``."""
        return cls(page=page.filter.page, pages=page.pages, total=page.total, page_size=page.page_size,
                   entries=[EntryOut.of(e) for e in page.entries])


class FlagOut(BaseModel):
    """One flagged item and every decision on it, oldest first."""

    entry: EntryOut
    reviews: list[ReviewOut]


class ActionOut(BaseModel):
    """A decision just written and the entry as it now stands."""

    review: ReviewOut
    entry: EntryOut


class UndoOut(BaseModel):
    """The reviews an undo wrote (empty: nothing left to undo)."""

    undone: list[ReviewOut]


class BulkOut(BaseModel):
    """The reviews a bulk confirm wrote, one per distinct flag."""

    reviews: list[ReviewOut]
