"""The queue and its actions as a JSON API under ``/review/api`` (what the page's script calls; scripts may too).

Reads need a session; every action also needs the session's CSRF token in ``X-CSRF-Token`` and a same-origin
request. Each decision is written by the store as a `Review` row (who, when, before/after) in the same transaction
as the flag's new state.

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
import json
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from edge.ops.review.context import PREFIX, Principal, ReviewContext
from edge.ops.review.errors import BadReviewInput, Conflict, NotFound, Unavailable
from edge.ops.review.inputs import parse_box, parse_bulk, parse_filter, parse_id, parse_relabel
from edge.ops.review.views import entry_dict, load_page, review_dict
from edge.store.errors import NotFoundError, StoreUnavailableError, StoreValueError
from edge.store.reviews import ReviewConflictError

MAX_BODY_BYTES = 64 * 1024
T = TypeVar("T")


async def read_json(request: Request) -> Any:
    """The request's JSON body (at most `MAX_BODY_BYTES`); an empty body is ``{}``."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise BadReviewInput("body too large")
    if not body.strip():
        return {}
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise BadReviewInput("send the body as application/json")
    try:
        return json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
        raise BadReviewInput("the body is not valid JSON") from None


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
    r = APIRouter(prefix=f"{PREFIX}/api", include_in_schema=False)
    Reader = Annotated[Principal, Depends(ctx.principal)]
    Writer = Annotated[Principal, Depends(ctx.writer)]

    @r.get("/queue")
    def queue(request: Request, who: Reader) -> dict[str, Any]:
        """One page of flagged items, oldest first."""
        f = parse_filter(request.query_params, ctx.taxonomy)
        return load_page(ctx.store_of(request), f, ctx.settings.page_size).to_dict()

    @r.get("/flags/{flag_id}")
    async def flag(request: Request, flag_id: str, who: Reader) -> dict[str, Any]:
        """One flagged item and every decision on it, oldest first."""
        fid = parse_id(flag_id)
        store = ctx.store_of(request)
        entry = await call_store(store.review_entry, fid)
        trail = await call_store(store.reviews, flag_id=fid)
        return {"entry": entry_dict(entry), "reviews": [review_dict(x) for x in trail]}

    async def act(request: Request, who: Principal, flag_id: str, action: str, **fields: Any) -> dict[str, Any]:
        fid = parse_id(flag_id)
        store = ctx.store_of(request)
        review = await call_store(store.apply_review, fid, action, who.user.name, **fields)
        entry = await call_store(store.review_entry, fid)
        return {"review": review_dict(review), "entry": entry_dict(entry)}

    @r.post("/flags/{flag_id}/confirm")
    async def confirm(request: Request, flag_id: str, who: Writer) -> dict[str, Any]:
        """Confirmed waste."""
        return await act(request, who, flag_id, "confirm_waste")

    @r.post("/flags/{flag_id}/not-waste")
    async def not_waste(request: Request, flag_id: str, who: Writer) -> dict[str, Any]:
        """Not waste: the model flagged a good item."""
        return await act(request, who, flag_id, "not_waste")

    @r.post("/flags/{flag_id}/relabel")
    async def relabel(request: Request, flag_id: str, who: Writer) -> dict[str, Any]:
        """A new produce kind and/or condition."""
        parse_id(flag_id)
        change = parse_relabel(await read_json(request), ctx.taxonomy)
        return await act(request, who, flag_id, "relabel", produce=change.produce, condition=change.condition)

    @r.post("/flags/{flag_id}/box")
    async def fix_box(request: Request, flag_id: str, who: Writer) -> dict[str, Any]:
        """A corrected box, in pixels of the item's whole frame (checked against the frame's size when stored)."""
        fid = parse_id(flag_id)
        body = await read_json(request)
        store = ctx.store_of(request)
        try:
            frame = await run_in_threadpool(store.flag_frame, fid)
            box = parse_box(body, frame.width, frame.height)
        except NotFoundError:
            box = parse_box(body)
        return await act(request, who, flag_id, "fix_box", box=box)

    @r.post("/undo")
    async def undo(request: Request, who: Writer) -> dict[str, Any]:
        """Undo my latest action not undone yet; ``undone`` is empty when there is nothing left to undo."""
        store = ctx.store_of(request)
        rows = await call_store(store.undo_last, who.user.name)
        return {"undone": [review_dict(x) for x in rows]}

    @r.post("/bulk-confirm")
    async def bulk_confirm(request: Request, who: Writer) -> dict[str, Any]:
        """Confirm every listed flag as waste, all or nothing (one undo reverts the whole batch)."""
        ids = parse_bulk(await read_json(request))
        store = ctx.store_of(request)
        rows = await call_store(store.bulk_confirm, ids, who.user.name)
        return {"reviews": [review_dict(x) for x in rows]}

    return r
