"""The dashboard's charts as inline SVG markup, drawn on the server (no chart library, no script needed to see them).

Pure functions of numbers and labels. Every label goes through `html.escape`: produce names and camera ids come from
configuration and the store, and the markup is inserted into the page unescaped (`markupsafe.Markup`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

# Colour-blind-safe (Okabe-Ito) colours for the series, in order.
PALETTE = ("#0072B2", "#E69F00", "#D55E00", "#009E73", "#CC79A7", "#56B4E9")


@dataclass(frozen=True)
class Series:
    """One named row of values, one per x label (None = no value there)."""

    name: str
    values: Sequence[float | None]


def axis(v: float, *, integer: bool = True, ticks: int = 4) -> tuple[float, float]:
    """(axis end, tick step) for values up to ``v``: a step of 1, 2, 2.5 or 5 x 10^k (for counts a whole number,
    at least 1) and an end that is a whole number of steps, about ``ticks`` of them."""
    if v <= 0:
        return (float(ticks) if integer else 1.0), (1.0 if integer else 1.0 / ticks)
    raw = v / ticks
    k = 10.0 ** math.floor(math.log10(raw))
    steps = [m * k for m in (1, 2, 2.5, 5, 10) if not (integer and (m * k) % 1)]  # counts: whole-number ticks
    step = next((s for s in steps if s >= raw), 1.0)
    if integer:
        step = max(step, 1.0)
    return step * math.ceil(v / step - 1e-9), step


def _fmt(v: float) -> str:
    return f"{v:.0f}" if float(v).is_integer() else f"{v:.2g}"


def _frame(width: int, height: int, title: str, y_max: float, step: float, left: int, bottom: int,
           y_fmt: str) -> list[str]:
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    plot_h = height - bottom - 24
    for i in range(round(y_max / step) + 1):
        v = step * i
        y = height - bottom - plot_h * v / y_max
        label = f"{v * 100:.0f}%" if y_fmt == "percent" else _fmt(v)
        out.append(f'<line x1="{left}" x2="{width - 8}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" font-size="11" fill="#555">{label}</text>')
    return out


def _legend(names: Sequence[str], x: int, y: int) -> list[str]:
    out: list[str] = []
    for i, name in enumerate(names):
        colour = PALETTE[i % len(PALETTE)]
        out.append(f'<rect x="{x}" y="{y - 9}" width="10" height="10" fill="{colour}"/>')
        out.append(f'<text x="{x + 14}" y="{y}" font-size="11" fill="#333">{escape(name)}</text>')
        x += 24 + 7 * len(name)
    return out


def bar_chart(title: str, labels: Sequence[str], series: Sequence[Series], *, width: int = 560,
              height: int = 200) -> Markup:
    """Grouped bars: for each x label, one bar per series (counts)."""
    left, bottom = 40, 34
    y_max, step = axis(max((v or 0 for s in series for v in s.values), default=0))
    out = _frame(width, height, title, y_max, step, left, bottom, "count")
    plot_w, plot_h = width - left - 8, height - bottom - 24
    n = max(len(labels), 1)
    group_w = plot_w / n
    bar_w = max(group_w * 0.8 / max(len(series), 1), 1.0)
    for i, label in enumerate(labels):
        gx = left + i * group_w + group_w * 0.1
        for j, s in enumerate(series):
            v = s.values[i] if i < len(s.values) else None
            if v is None:
                continue
            h = plot_h * v / y_max
            x, y = gx + j * bar_w, height - bottom - h
            out.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w - 1:.1f}" height="{h:.1f}" '
                f'fill="{PALETTE[j % len(PALETTE)]}"><title>{escape(s.name)} {escape(label)}: {_fmt(v)}</title></rect>'
            )
        out.append(f'<text x="{gx + group_w * 0.4:.1f}" y="{height - bottom + 14}" text-anchor="middle" '
                   f'font-size="10" fill="#555">{escape(label[-5:])}</text>')
    out += _legend([s.name for s in series], left, height - 6)
    out.append("</svg>")
    return Markup("".join(out))


def line_chart(title: str, labels: Sequence[str], series: Sequence[Series], *, width: int = 560,
               height: int = 200, percent: bool = True) -> Markup:
    """Lines over the x labels, values in 0..1 when ``percent``; a None breaks the line (no data that day)."""
    left, bottom = 40, 34
    top = max((v or 0 for s in series for v in s.values), default=0)
    y_max, step = (1.0, 0.25) if percent else axis(top, integer=False)
    out = _frame(width, height, title, y_max, step, left, bottom, "percent" if percent else "count")
    plot_w, plot_h = width - left - 8, height - bottom - 24
    n = max(len(labels), 1)
    step = plot_w / n

    def xy(i: int, v: float) -> tuple[float, float]:
        return left + step * (i + 0.5), height - bottom - plot_h * v / y_max

    for j, s in enumerate(series):
        colour = PALETTE[j % len(PALETTE)]
        run: list[str] = []
        for i, v in enumerate(s.values):
            if v is None:
                if len(run) > 1:
                    out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{" ".join(run)}"/>')
                run = []
                continue
            x, y = xy(i, v)
            run.append(f"{x:.1f},{y:.1f}")
            label = labels[i] if i < len(labels) else ""
            shown = f"{v * 100:.0f}%" if percent else _fmt(v)
            out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"><title>{escape(s.name)} '
                       f"{escape(label)}: {shown}</title></circle>")
        if len(run) > 1:
            out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{" ".join(run)}"/>')
    for i, label in enumerate(labels):
        x, _ = xy(i, 0)
        out.append(f'<text x="{x:.1f}" y="{height - bottom + 14}" text-anchor="middle" font-size="10" '
                   f'fill="#555">{escape(label[-5:])}</text>')
    out += _legend([s.name for s in series], left, height - 6)
    out.append("</svg>")
    return Markup("".join(out))


def series_by_day(days: Sequence[str], values: Mapping[str, float | None]) -> list[float | None]:
    """``values`` (day -> value) laid out on ``days`` (None where a day has none)."""
    return [values.get(d) for d in days]
