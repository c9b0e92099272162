"""The review page itself: ``GET /review`` (filters, queue, pager, shortcuts) and ``GET /review/queue`` (the queue
section alone, which the page's script polls with ``If-None-Match`` to update without a reload)."""

# No `from __future__ import annotations`: the handlers' Annotated dependencies are local to the factory.
import hashlib
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy import Connection
from starlette.requests import Request
from starlette.responses import Response

from edge.ops.review.api_route import ReviewApiRoute
from edge.ops.review.context import PREFIX, Principal, ReviewContext
from edge.ops.review.inputs import QueueFilter
from edge.ops.review.views import QueuePage, load_page
from edge.store.frames import tallies


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
    # The route class answers a refused query parameter as the page's error (400, naming the field), not a 422.
    r = APIRouter(prefix=PREFIX, include_in_schema=False, route_class=ReviewApiRoute)
    Reader = Annotated[Principal, Depends(ctx.principal)]
    ReadTx = Annotated[Connection, Depends(ctx.read_transaction, scope="function")]
    Filter = Annotated[QueueFilter.for_taxonomy(ctx.taxonomy), Query()]

    def queue_context(tx: Connection, who: Principal, f: QueueFilter) -> dict[str, Any]:
        page: QueuePage = load_page(tx, f, ctx.settings.page_size)
        return {"who": who, "q": page, "f": f}

    @r.get("")
    def queue_page(request: Request, who: Reader, tx: ReadTx, f: Filter) -> Response:
        """The review page."""
        context = queue_context(tx, who, f)
        context.update(
            cameras=sorted(t.camera_id for t in tallies(tx, None)),
            produce=ctx.taxonomy.produce,
            conditions=ctx.taxonomy.condition_names,
            shortcuts=SHORTCUTS,
            poll_ms=int(ctx.settings.poll_interval_s * 1000),
            csrf_token=who.csrf_token,
            nav="queue",
        )
        return ctx.templates.TemplateResponse(request, "queue.html", context)

    @r.get("/queue")
    def queue_section(request: Request, who: Reader, tx: ReadTx, f: Filter) -> Response:
        """The queue section alone; 304 when it has not changed since the ``If-None-Match`` version."""
        response = ctx.templates.TemplateResponse(request, "_queue.html", queue_context(tx, who, f))
        etag = '"' + hashlib.sha256(bytes(response.body)).hexdigest()[:32] + '"'
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers={"etag": etag})
        response.headers["etag"] = etag
        return response

    return r
