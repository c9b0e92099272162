"""``GET /review/api/waste?since=&until=&hourly=``: the waste feed's aggregates as JSON, for signed-in users.

The same rows `qc waste export` writes (`edge.ops.feed.api.waste_json`), computed from the store on request.
"""

# No `from __future__ import annotations`: the handlers' Annotated dependencies are local to the factory.
from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import JSONResponse

from edge.ops.feed.api import waste_json
from edge.ops.review.context import PREFIX, Principal, ReviewContext
from edge.ops.review.errors import BadReviewInput
from vision.errors import InputError


def router(ctx: ReviewContext) -> APIRouter:
    """The waste-feed API route of ``ctx``."""
    r = APIRouter(prefix=PREFIX, include_in_schema=False)
    Reader = Annotated[Principal, Depends(ctx.principal)]

    @r.get("/api/waste")
    def waste(request: Request, who: Reader) -> JSONResponse:
        """Rows per (site, camera, product, day[, hour]) for ``since``..``until`` (YYYY-MM-DD; default last 7 days)."""
        params = request.query_params
        hourly = params.get("hourly", "false")
        if hourly not in ("true", "false", "1", "0"):
            raise BadReviewInput("hourly: must be true or false")
        try:
            body = waste_json(ctx.store_of(request), params.get("since"), params.get("until"), hourly in ("true", "1"))
        except InputError as exc:
            raise BadReviewInput(f"since/until: {exc}") from None  # waste_json's messages never echo the input
        return JSONResponse(body)

    return r
