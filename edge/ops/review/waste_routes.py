"""``GET /review/api/waste?since=&until=&hourly=``: the waste feed's aggregates as JSON, for signed-in users.

The same rows `qc waste export` writes (`edge.ops.feed.api.waste_json`), computed from the store on request; the
query string is a typed model (`WasteQuery`) and the answer a response model (`edge.ops.feed.api.WasteOut`).
"""

# No `from __future__ import annotations`: the handlers' Annotated dependencies are local to the factory.
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, BeforeValidator, ConfigDict
from sqlalchemy import Connection

from edge.ops.feed.api import WasteOut, parse_day, waste_json
from edge.ops.review.api_route import ReviewApiRoute
from edge.ops.review.context import PREFIX, Principal, ReviewContext
from edge.ops.review.errors import BadReviewInput
from edge.ops.review.inputs import refusal
from vision.errors import InputError


def _hourly(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if raw not in ("true", "false", "1", "0"):
        raise refusal("hourly: must be true or false")
    return raw in ("true", "1")


def _day_of(name: str) -> BeforeValidator:
    def parse(raw: Any) -> date | None:
        if raw is None or isinstance(raw, date):
            return raw
        try:
            return parse_day(raw, name)
        except InputError as exc:  # its message names the parameter, never the value
            raise refusal(f"since/until: {exc}") from None

    return BeforeValidator(parse)


class WasteQuery(BaseModel):
    """``hourly`` (true, false, 1, 0; default false), ``since`` and ``until`` (YYYY-MM-DD, UTC, inclusive; default the
    last 7 days through today), checked in that order."""

    model_config = ConfigDict(frozen=True)

    hourly: Annotated[bool, BeforeValidator(_hourly)] = False
    since: Annotated[date | None, _day_of("since")] = None
    until: Annotated[date | None, _day_of("until")] = None


def router(ctx: ReviewContext) -> APIRouter:
    """The waste-feed API route of ``ctx``."""
    r = APIRouter(prefix=PREFIX, include_in_schema=False, route_class=ReviewApiRoute)
    Reader = Annotated[Principal, Depends(ctx.principal)]
    ReadTx = Annotated[Connection, Depends(ctx.read_transaction, scope="function")]

    @r.get("/api/waste", response_model=WasteOut)
    def waste(who: Reader, tx: ReadTx, q: Annotated[WasteQuery, Query()]) -> WasteOut:
        """Rows per (site, camera, product, day[, hour]) for ``since``..``until`` (YYYY-MM-DD; default last 7 days)."""
        try:
            return waste_json(tx, q.since, q.until, q.hourly)
        except InputError as exc:
            raise BadReviewInput(f"since/until: {exc}") from None  # waste_json's messages never echo the input

    return r
