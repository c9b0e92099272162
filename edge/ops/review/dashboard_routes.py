"""``GET /review/dashboard?days=N``: items inspected, flagged and confirmed waste per produce per day (grouped bars),
and the model's review precision (confirmed / reviewed flags) per day, as inline SVG drawn here."""

# No `from __future__ import annotations`: the handlers' Annotated dependencies are local to the factory.
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from markupsafe import Markup
from pydantic import BaseModel, BeforeValidator, ConfigDict
from sqlalchemy import Connection
from starlette.requests import Request
from starlette.responses import Response

from edge.ops.review.api_route import ReviewApiRoute
from edge.ops.review.charts import Series, bar_chart, line_chart
from edge.ops.review.context import PREFIX, Principal, ReviewContext
from edge.ops.review.inputs import whole
from edge.store.reviews import Dashboard
from edge.store.waste import dashboard as dashboard_of_window

MAX_DAYS = 92
DEFAULT_DAYS = 14


class DashboardQuery(BaseModel):
    """``?days=N``: the last N days (UTC, today included), 1 to `MAX_DAYS`; empty or absent: 14."""

    model_config = ConfigDict(frozen=True)

    days: Annotated[int, BeforeValidator(lambda raw: whole(raw, "days", 1, MAX_DAYS, DEFAULT_DAYS))] = DEFAULT_DAYS


@dataclass(frozen=True)
class ProducePanel:
    """One produce kind's chart and totals over the period."""

    produce: str
    chart: Markup
    inspected: int
    flagged: int
    confirmed: int
    rejected: int
    pending: int


def panels(dash: Dashboard, days: list[date]) -> list[ProducePanel]:
    """A chart per produce kind that has any item in the period, in name order."""
    labels = [d.isoformat() for d in days]
    out: list[ProducePanel] = []
    for produce in sorted({row.produce for row in dash.rows}):
        rows = {row.day: row for row in dash.rows if row.produce == produce}

        def col(name: str, rows: dict = rows) -> list[float | None]:
            return [getattr(rows[d], name) if d in rows else 0 for d in days]

        chart = bar_chart(f"{produce}: per day", labels, [
            Series("inspected", col("inspected")), Series("flagged", col("flagged")),
            Series("confirmed waste", col("confirmed")),
        ])
        out.append(ProducePanel(produce, chart, *(sum(getattr(r, k) for r in rows.values())
                                                  for k in ("inspected", "flagged", "confirmed", "rejected",
                                                            "pending"))))
    return out


def router(ctx: ReviewContext) -> APIRouter:
    """The dashboard route of ``ctx``."""
    # The route class answers a refused ``days`` as the page's error (400, naming the field), not a 422.
    r = APIRouter(prefix=PREFIX, include_in_schema=False, route_class=ReviewApiRoute)
    Reader = Annotated[Principal, Depends(ctx.principal)]
    ReadTx = Annotated[Connection, Depends(ctx.read_transaction, scope="function")]

    @r.get("/dashboard")
    def dashboard(request: Request, who: Reader, tx: ReadTx, q: Annotated[DashboardQuery, Query()]) -> Response:
        """The dashboard for the last ``days`` days (UTC, today included; default 14)."""
        n = q.days
        until = datetime.now(timezone.utc).date()
        since = until - timedelta(days=n - 1)
        dash = dashboard_of_window(tx, since, until)
        days = [since + timedelta(days=i) for i in range(n)]
        by_day = {p.day: p for p in dash.precision}
        precision = line_chart("review precision (confirmed / reviewed flags) per day",
                               [d.isoformat() for d in days],
                               [Series("precision", [by_day[d].precision if d in by_day else None for d in days])])
        reviewed = sum(p.reviewed for p in dash.precision)
        confirmed = sum(p.confirmed for p in dash.precision)
        return ctx.templates.TemplateResponse(request, "dashboard.html", {
            "who": who, "nav": "dashboard", "csrf_token": who.csrf_token, "days": n, "since": since,
            "until": until, "panels": panels(dash, days), "precision_chart": precision,
            "precision_points": [p for p in dash.precision if p.reviewed],
            "overall": (confirmed / reviewed) if reviewed else None, "reviewed": reviewed, "confirmed": confirmed,
        })

    return r
