"""The review page itself: ``GET /review`` (filters, queue, pager, shortcuts) and ``GET /review/queue`` (the queue
section alone, which the page's script polls with ``If-None-Match`` to update without a reload)."""

# No `from __future__ import annotations`: the handlers' Annotated dependencies are local to the factory.
import hashlib
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from edge.ops.review.context import PREFIX, Principal, ReviewContext
from edge.ops.review.inputs import parse_filter
from edge.ops.review.views import QueuePage, load_page


@dataclass(frozen=True)
class Shortcut:
    """A keyboard shortcut: the key (as `KeyboardEvent.key`), the action the script binds it to, and its label."""

    key: str
    action: str
    label: str


# The one list of shortcuts: the page shows it and the script binds exactly these keys (read from the page).
SHORTCUTS: tuple[Shortcut, ...] = (
    Shortcut("j", "next", "next item"),
    Shortcut("k", "prev", "previous item"),
    Shortcut("c", "confirm", "confirm waste"),
    Shortcut("n", "not-waste", "not waste (false flag)"),
    Shortcut("r", "relabel", "relabel produce / condition"),
    Shortcut("f", "frame", "whole frame"),
    Shortcut("b", "box", "fix the box (drag on the frame)"),
    Shortcut("x", "select", "select for bulk confirm"),
    Shortcut("C", "bulk-confirm", "confirm all selected (Shift+C)"),
    Shortcut("u", "undo", "undo my last action"),
    Shortcut("?", "help", "show / hide shortcuts"),
)


def router(ctx: ReviewContext) -> APIRouter:
    """The page routes of ``ctx``."""
    r = APIRouter(prefix=PREFIX, include_in_schema=False)
    Reader = Annotated[Principal, Depends(ctx.principal)]

    def queue_context(request: Request, who: Principal) -> dict[str, Any]:
        f = parse_filter(request.query_params, ctx.taxonomy)
        page: QueuePage = load_page(ctx.store_of(request), f, ctx.settings.page_size)
        return {"who": who, "q": page, "f": f}

    @r.get("")
    def queue_page(request: Request, who: Reader) -> Response:
        """The review page."""
        store = ctx.store_of(request)
        context = queue_context(request, who)
        context.update(
            cameras=sorted(t.camera_id for t in store.frame_tallies()),
            produce=ctx.taxonomy.produce,
            conditions=ctx.taxonomy.condition_names,
            shortcuts=SHORTCUTS,
            poll_ms=int(ctx.settings.poll_interval_s * 1000),
            csrf_token=who.csrf_token,
            nav="queue",
        )
        return ctx.templates.TemplateResponse(request, "queue.html", context)

    @r.get("/queue")
    def queue_section(request: Request, who: Reader) -> Response:
        """The queue section alone; 304 when it has not changed since the ``If-None-Match`` version."""
        response = ctx.templates.TemplateResponse(request, "_queue.html", queue_context(request, who))
        etag = '"' + hashlib.sha256(bytes(response.body)).hexdigest()[:32] + '"'
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers={"etag": etag})
        response.headers["etag"] = etag
        return response

    return r
