"""The queue and its actions as a JSON API under ``/review/api`` (what the page's script calls; scripts may too).

Reads need a session; every action also needs the session's CSRF token in ``X-CSRF-Token`` and a same-origin
request. Each decision is written by the store as a `Review` row (who, when, before/after) in the same transaction
as the flag's new state. Ids and bodies are typed (`edge.ops.review.api_models`: FastAPI parses and validates them,
answers are response models); `edge.ops.review.api_route` answers their refusals as review errors.

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
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool
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
from edge.ops.review.errors import BadReviewInput, Conflict, NotFound, Unavailable
from edge.ops.review.inputs import check_relabel, fit_box, parse_filter
from edge.ops.review.views import load_page
from edge.store.errors import NotFoundError, StoreUnavailableError, StoreValueError
from edge.store.reviews import ReviewConflictError

T = TypeVar("T")


async def call_store(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a blocking store call in the thread pool, turning its refusals into review errors."""
    try:
        return await run_in_threadpool(fn, *args, **kwargs)
    except NotFoundError:
        raise NotFound("no such flag") from None
    except StoreUnavailableError:
        raise Unavailable("the store is busy or unreachable; try again") from None
    except ReviewConflictError as exc:  # undo would overwrite someone else's later decision
        raise Conflict(str(exc)) from None
    except StoreValueError as exc:
        raise BadReviewInput(str(exc)) from None


def router(ctx: ReviewContext) -> APIRouter:
    """The queue API of ``ctx``."""
    r = APIRouter(prefix=f"{PREFIX}/api", include_in_schema=False, route_class=ReviewApiRoute)
    Reader = Annotated[Principal, Depends(ctx.principal)]
    Writer = Annotated[Principal, Depends(ctx.writer)]

    def body_writer(request: Request) -> Principal:
        """`ReviewContext.writer`, then the body's problems: who may not act learns nothing about their body."""
        who = ctx.writer(request)
        refuse_bad_body(request)
        return who

    BodyWriter = Annotated[Principal, Depends(body_writer)]

    @r.get("/queue", response_model=QueuePageOut)
    def queue(request: Request, who: Reader) -> QueuePageOut:
        """One page of flagged items, oldest first."""
        f = parse_filter(request.query_params, ctx.taxonomy)
        return QueuePageOut.of(load_page(ctx.store_of(request), f, ctx.settings.page_size))

    @r.get("/flags/{flag_id}", response_model=FlagOut)
    async def flag(request: Request, flag_id: FlagId, who: Reader) -> FlagOut:
        """One flagged item and every decision on it, oldest first."""
        store = ctx.store_of(request)
        entry = await call_store(store.review_entry, flag_id)
        trail = await call_store(store.reviews, flag_id=flag_id)
        return FlagOut(entry=EntryOut.of(entry), reviews=[ReviewOut.of(x) for x in trail])

    async def act(request: Request, who: Principal, flag_id: int, action: str, **fields: Any) -> ActionOut:
        store = ctx.store_of(request)
        review = await call_store(store.apply_review, flag_id, action, who.user.name, **fields)
        entry = await call_store(store.review_entry, flag_id)
        return ActionOut(review=ReviewOut.of(review), entry=EntryOut.of(entry))

    @r.post("/flags/{flag_id}/confirm", response_model=ActionOut)
    async def confirm(request: Request, flag_id: FlagId, who: Writer) -> ActionOut:
        """Confirmed waste."""
        return await act(request, who, flag_id, "confirm_waste")

    @r.post("/flags/{flag_id}/not-waste", response_model=ActionOut)
    async def not_waste(request: Request, flag_id: FlagId, who: Writer) -> ActionOut:
        """Not waste: the model flagged a good item."""
        return await act(request, who, flag_id, "not_waste")

    @r.post("/flags/{flag_id}/relabel", response_model=ActionOut)
    async def relabel(request: Request, flag_id: FlagId, who: BodyWriter, body: RelabelBody) -> ActionOut:
        """A new produce kind and/or condition."""
        produce, condition = check_relabel(body.produce, body.condition, ctx.taxonomy)
        return await act(request, who, flag_id, "relabel", produce=produce, condition=condition)

    @r.post("/flags/{flag_id}/box", response_model=ActionOut)
    async def fix_box(request: Request, flag_id: FlagId, who: BodyWriter, body: BoxBody) -> ActionOut:
        """A corrected box, in pixels of the item's whole frame (checked against the frame's size when stored)."""
        store = ctx.store_of(request)
        try:
            frame = await run_in_threadpool(store.flag_frame, flag_id)
            box = fit_box(body.corners, frame.width, frame.height)
        except NotFoundError:
            box = fit_box(body.corners)
        return await act(request, who, flag_id, "fix_box", box=box)

    @r.post("/undo", response_model=UndoOut)
    async def undo(request: Request, who: Writer) -> UndoOut:
        """Undo my latest action not undone yet; ``undone`` is empty when there is nothing left to undo."""
        store = ctx.store_of(request)
        rows = await call_store(store.undo_last, who.user.name)
        return UndoOut(undone=[ReviewOut.of(x) for x in rows])

    @r.post("/bulk-confirm", response_model=BulkOut)
    async def bulk_confirm(request: Request, who: BodyWriter, body: BulkBody) -> BulkOut:
        """Confirm every listed flag as waste, all or nothing (one undo reverts the whole batch)."""
        store = ctx.store_of(request)
        rows = await call_store(store.bulk_confirm, body.ids, who.user.name)
        return BulkOut(reviews=[ReviewOut.of(x) for x in rows])

    return r
