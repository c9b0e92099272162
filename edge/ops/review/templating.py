"""Jinja2 filters the review templates use (the environment itself autoescapes every ``.html`` template)."""

from __future__ import annotations

from datetime import datetime, timezone

from jinja2 import Environment


def utc(t: datetime | None) -> str:
    """``2026-11-26 09:41:03`` in UTC; an em dash for no time."""
    if t is None:
        return "—"
    return t.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def utc_minute(t: datetime | None) -> str:
    """``2026-11-26 09:41`` in UTC; an em dash for no time."""
    if t is None:
        return "—"
    return t.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M")


def pct(v: float | None) -> str:
    """``87%``; an em dash for no value."""
    return "—" if v is None else f"{v * 100:.0f}%"


def install_filters(env: Environment) -> None:
    """Register the filters on ``env``."""
    env.filters["utc"] = utc
    env.filters["utc_minute"] = utc_minute
    env.filters["pct"] = pct
