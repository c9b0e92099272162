"""The queue and its actions as a JSON API under ``/review/api`` (what the page's script calls; scripts may too).

Reads need a session; every action also needs the session's CSRF token in ``X-CSRF-Token`` and a same-origin
request. Each route runs in one store transaction (`ReviewContext.read_transaction` / `write_transaction`) and calls
the store's repository functions with it; a decision is written as a `Review` row (who, when, before/after) in the
same transaction as the flag's new state, and the entry answered is read in it too. Ids, query strings and bodies are
typed (`edge.ops.review.api_models`, `edge.ops.review.inputs`: FastAPI parses and validates them, answers are
response models); `edge.ops.review.api_route` answers their refusals as review errors.

    GET  /review/api/queue?camera=&produce=&status=&date=&page=     one page of the queue
    GET  /review/api/flags/{flag_id}                                 one entry and its audit trail
    POST /review/api/flags/{flag_id}/confirm                         confirmed waste
    POST /review/api/flags/{flag_id}/not-waste                       a false flag
    POST /review/api/flags/{flag_id}/relabel   {"produce", "condition"}
    POST /review/api/flags/{flag_id}/box       {"box": [x0, y0, x1, y1]}  (pixels of the whole frame)
    POST /review/api/undo                                            undo my last action (a bulk one as a whole)
    POST /review/api/bulk-confirm              {"flag_ids": [...]}
"""

# No `from __future__ import annotations`: the handlers' Annotated dependencies are local to the factory, and FastAPI
# resolves string annotations in module globals only.
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy import Connection
from starlette.requests import Request

from edge.ops.review.api_models import (
    ActionOut,
    BoxBody,
    BulkBody,
    BulkOut,
    EntryOut,
    FlagId,
    FlagOut,
    QueuePageOut,
    RelabelBody,
    ReviewOut,
    UndoOut,
)
from edge.ops.review.api_route import ReviewApiRoute, refuse_bad_body
from edge.ops.review.context import PREFIX, Principal, ReviewContext
from edge.ops.review.errors import BadReviewInput, Conflict, NotFound
from edge.ops.review.inputs import QueueFilter, check_relabel, fit_box
from edge.ops.review.views import load_page
from edge.store import frame_images, review_repo
from edge.store.errors import NotFoundError, StoreValueError
from edge.store.review_queue import get_entry
from edge.store.reviews import ReviewConflictError


@contextmanager
def store_refusals() -> Iterator[None]:
    """The store's refusals of a review call as review errors (an unreachable store is the transaction's 503)."""
    try:
        yield
    except NotFoundError:
        raise NotFound("no such flag") from None
    except ReviewConflictError as exc:  # undo would overwrite someone else's later decision
        raise Conflict(str(exc)) from None
    except StoreValueError as exc:
        raise BadReviewInput(str(exc)) from None


def router(ctx: ReviewContext) -> APIRouter:
    """The queue API of ``ctx``."""
    r = APIRouter(prefix=f"{PREFIX}/api", include_in_schema=False, route_class=ReviewApiRoute)
    Reader = Annotated[Principal, Depends(ctx.principal)]
    Writer = Annotated[Principal, Depends(ctx.writer)]
    # Declared after the guards: a request that may not read or act opens no transaction.
    ReadTx = Annotated[Connection, Depends(ctx.read_transaction, scope="function")]
    WriteTx = Annotated[Connection, Depends(ctx.write_transaction, scope="function")]
    Filter = Annotated[QueueFilter.for_taxonomy(ctx.taxonomy), Query()]

    def body_writer(request: Request) -> Principal:
        """`ReviewContext.writer`, then the body's problems: who may not act learns nothing about their body."""
        who = ctx.writer(request)
        refuse_bad_body(request)
        return who

    BodyWriter = Annotated[Principal, Depends(body_writer)]

    @r.get("/queue", response_model=QueuePageOut)
    def queue(who: Reader, tx: ReadTx, f: Filter) -> QueuePageOut:
        """One page of flagged items, oldest first."""
        return QueuePageOut.of(load_page(tx, f, ctx.settings.page_size))

    @r.get("/flags/{flag_id}", response_model=FlagOut)
    def flag(flag_id: FlagId, who: Reader, tx: ReadTx) -> FlagOut:
        """One flagged item and every decision on it, oldest first."""
        with store_refusals():
            entry = get_entry(tx, flag_id)
            trail = review_repo.list_reviews(tx, flag_id=flag_id)
        return FlagOut(entry=EntryOut.of(entry), reviews=[ReviewOut.of(x) for x in trail])

    def act(tx: Connection, who: Principal, flag_id: int, action: str, **fields: Any) -> ActionOut:
        with store_refusals():
            review = review_repo.apply_review(tx, flag_id, action, who.user.name, **fields)
            entry = get_entry(tx, flag_id)
        return ActionOut(review=ReviewOut.of(review), entry=EntryOut.of(entry))

    @r.post("/flags/{flag_id}/confirm", response_model=ActionOut)
    def confirm(flag_id: FlagId, who: Writer, tx: WriteTx) -> ActionOut:
        """Confirmed waste."""
        return act(tx, who, flag_id, "confirm_waste")

    @r.post("/flags/{flag_id}/not-waste", response_model=ActionOut)
    def not_waste(flag_id: FlagId, who: Writer, tx: WriteTx) -> ActionOut:
        """Not waste: the model flagged a good item."""
        return act(tx, who, flag_id, "not_waste")

    @r.post("/flags/{flag_id}/relabel", response_model=ActionOut)
    def relabel(flag_id: FlagId, who: BodyWriter, tx: WriteTx, body: RelabelBody) -> ActionOut:
        """A new produce kind and/or condition."""
        produce, condition = check_relabel(body.produce, body.condition, ctx.taxonomy)
        return act(tx, who, flag_id, "relabel", produce=produce, condition=condition)

    @r.post("/flags/{flag_id}/box", response_model=ActionOut)
    def fix_box(flag_id: FlagId, who: BodyWriter, tx: WriteTx, body: BoxBody) -> ActionOut:
        """A corrected box, in pixels of the item's whole frame (checked against the frame's size when stored)."""
        try:
            frame = frame_images.flag_frame(tx, flag_id)
            box = fit_box(body.corners, frame.width, frame.height)
        except NotFoundError:
            box = fit_box(body.corners)
        return act(tx, who, flag_id, "fix_box", box=box)

    @r.post("/undo", response_model=UndoOut)
    def undo(who: Writer, tx: WriteTx) -> UndoOut:
        """Undo my latest action not undone yet; ``undone`` is empty when there is nothing left to undo."""
        with store_refusals():
            rows = review_repo.undo_last(tx, who.user.name)
        return UndoOut(undone=[ReviewOut.of(x) for x in rows])

    @r.post("/bulk-confirm", response_model=BulkOut)
    def bulk_confirm(who: BodyWriter, tx: WriteTx, body: BulkBody) -> BulkOut:
        """Confirm every listed flag as waste, all or nothing (one undo reverts the whole batch)."""
        with store_refusals():
            rows = review_repo.bulk_confirm(tx, body.ids, who.user.name)
        return BulkOut(reviews=[ReviewOut.of(x) for x in rows])

    return r
