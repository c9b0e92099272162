"""`qc count-table`: counting accuracy over a grid of rendered clips (belt speed x density x seed), pooled per cell.

Each clip is rendered by `qc synth clip` in a child process (edge never imports training) and run through the same
pipeline as `qc inspect --truth`: `load_models`, `inspect_video`, `score_against_truth`. Per (speed, density) cell
the clips' truth reports are pooled by adding their *counts* (counted and truth per produce kind, duplicates, missed,
spurious, wrong produce, flag true/false positives, spoiled truth items) and only then dividing: an average of
per-clip ratios would weigh a clip with 3 spoiled items like one with 30. Pooling and formatting are pure functions
over those report dicts; the command (options, output) is `edge.tools.count_table_cli`.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vision.detector import Detector
    from vision.grader import Grader

MAX_COUNT_ERROR = 0.02  # the counting bar: every produce kind counted within 2 % of the truth, in every cell
MIN_FLAG_SCORE = 0.9  # the counting bar: flag precision and recall at the item level, in every cell
_EPS = 1e-9  # 1/50 is exactly the bar; float division must not push it over

_COUNTS = ("duplicates", "missed", "spurious", "wrong_produce", "flag_tp", "flag_fp", "truth_spoiled")


@dataclass(frozen=True)
class ClipSpec:
    """One clip of the grid: the `qc synth clip` parameters it is rendered with."""

    speed: float
    density: float
    seed: int
    seconds: float
    fps: float

    @property
    def folder(self) -> str:
        """The clip's folder name under the work folder: every parameter in it, so different clips never share one."""
        return f"v{self.speed:g}_d{self.density:g}_seed{self.seed}_{self.seconds:g}s_{self.fps:g}fps"

    def made(self, truth: Mapping[str, Any]) -> bool:
        """Whether ``truth`` (a truth.json) was rendered with exactly these parameters."""
        try:
            return int(truth["seed"]) == self.seed and all(
                math.isclose(float(truth[key]), want, rel_tol=1e-9)
                for key, want in (("seconds", self.seconds), ("fps", self.fps), ("speed_m_per_s", self.speed),
                                  ("density_items_per_m", self.density))
            )
        except (KeyError, TypeError, ValueError):
            return False


def grid(seeds: Sequence[int], speeds: Sequence[float], densities: Sequence[float], seconds: float,
         fps: float) -> list[ClipSpec]:
    """Every clip of the grid, cell by cell (speed, then density), seeds within a cell."""
    return [ClipSpec(v, d, s, seconds, fps) for v in speeds for d in densities for s in seeds]


def pool_scores(scores: Sequence[Mapping[str, Any]], produce: Sequence[str]) -> dict[str, Any]:
    """Pool `score_against_truth` reports: counts added, then the ratios computed from the sums.

    ``produce`` orders the per-produce rows (the model's taxonomy); kinds a report names beyond it come after, sorted.
    ``error`` per produce kind is signed (counted - truth) / truth, None without truth items; ``worst_error`` the
    largest absolute one. ``flag_precision`` / ``flag_recall`` are None when their denominator is 0.
    """
    kinds = list(produce) + sorted({p for s in scores for p in s["per_produce"]} - set(produce))
    per: dict[str, dict[str, Any]] = {p: {"truth": 0, "counted": 0, "truth_spoiled": 0, "flagged": 0} for p in kinds}
    for s in scores:
        for p, row in s["per_produce"].items():
            for key in ("truth", "counted", "truth_spoiled", "flagged"):
                per[p][key] += int(row.get(key, 0))
    sums = {key: sum(int(s[key]) for s in scores) for key in _COUNTS}
    for row in per.values():
        row["error"] = (row["counted"] - row["truth"]) / row["truth"] if row["truth"] else None
    errors = [abs(r["error"]) for r in per.values() if r["error"] is not None]
    tp, fp, spoiled = sums["flag_tp"], sums["flag_fp"], sums["truth_spoiled"]
    return {
        "clips": len(scores),
        "per_produce": per,
        "truth_total": sum(int(s["truth_total"]) for s in scores),
        "counted_total": sum(int(s["counted_total"]) for s in scores),
        "worst_error": max(errors, default=0.0),
        "counted_twice": sums["duplicates"],
        **{key: sums[key] for key in _COUNTS if key != "duplicates"},
        "flag_precision": tp / (tp + fp) if tp + fp else None,
        "flag_recall": tp / spoiled if spoiled else None,
    }


def bars(pooled: Mapping[str, Any]) -> dict[str, bool]:
    """The counting bars on one pooled cell: every produce kind within 2 % (a kind counted with no truth items is
    off), nothing counted twice, flag precision and recall >= 0.9 (a ratio with nothing to measure does not fail)."""
    counts = all(
        (r["truth"] == 0 and r["counted"] == 0)
        or (r["truth"] > 0 and abs(r["counted"] - r["truth"]) / r["truth"] <= MAX_COUNT_ERROR + _EPS)
        for r in pooled["per_produce"].values()
    )
    flags = all(v is None or v >= MIN_FLAG_SCORE - _EPS for v in (pooled["flag_precision"], pooled["flag_recall"]))
    out = {"counts_within_2pct": counts, "none_counted_twice": pooled["counted_twice"] == 0,
           "flags_at_least_0.9": flags}
    return {**out, "all": all(out.values())}


def summarize(results: Sequence[tuple[ClipSpec, Mapping[str, Any]]], produce: Sequence[str]) -> dict[str, Any]:
    """The table as data: ``cells`` (one per speed and density, in the order met, each pooled over its seeds with
    its ``pass`` bars), ``overall`` (every clip pooled) and ``pass`` (each bar held in every cell)."""
    by_cell: dict[tuple[float, float], list[tuple[ClipSpec, Mapping[str, Any]]]] = {}
    for spec, score in results:
        by_cell.setdefault((spec.speed, spec.density), []).append((spec, score))
    cells = []
    for (speed, density), members in by_cell.items():
        pooled = pool_scores([s for _, s in members], produce)
        cells.append({"speed": speed, "density": density, "seeds": [spec.seed for spec, _ in members], **pooled,
                      "pass": bars(pooled)})
    keys = ("counts_within_2pct", "none_counted_twice", "flags_at_least_0.9", "all")
    return {
        "produce": list(produce),
        "cells": cells,
        "overall": pool_scores([s for _, s in results], produce),
        "pass": {key: bool(cells) and all(c["pass"][key] for c in cells) for key in keys},
        "clips": [{"speed": spec.speed, "density": spec.density, "seed": spec.seed, **score}
                  for spec, score in results],
    }


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _signed_pct(counted: int, truth: int) -> str:
    pct = 100 * (counted - truth) / truth
    return f"{'+' if pct > 0 else '−'}{abs(pct):.1f} %"  # U+2212, as the README writes it


def head(produce: Sequence[str]) -> list[str]:
    """The table's column names; the produce columns are the model's produce kinds."""
    return ["m/s", "items/m", *produce, "worst error", "counted twice", "missed", "spurious", "wrong produce",
            "flag P", "flag R"]


def row_values(pooled: Mapping[str, Any], produce: Sequence[str]) -> list[str]:
    """One pooled cell (or the overall pool) as the table's text after its speed and density columns."""
    per = pooled["per_produce"]
    return [*(f"{per[p]['counted']}/{per[p]['truth']}" for p in produce), f"{100 * pooled['worst_error']:.1f} %",
            str(pooled["counted_twice"]), str(pooled["missed"]), str(pooled["spurious"]), str(pooled["wrong_produce"]),
            _ratio(pooled["flag_precision"]), _ratio(pooled["flag_recall"])]


def markdown_rows(summary: Mapping[str, Any]) -> list[str]:
    """The README's table: header, rule and one row per cell."""
    names = head(summary["produce"])
    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    for c in summary["cells"]:
        row = [f"{c['speed']:g}", f"{c['density']:g}", *row_values(c, summary["produce"])]
        lines.append("| " + " | ".join(row) + " |")
    return lines


def overall_line(summary: Mapping[str, Any]) -> str:
    """The sentence under the table: counted/truth per produce kind over all clips (with the signed error where they
    differ), items counted twice, pooled flag precision and recall, the flag threshold and the model."""
    o = summary["overall"]
    kinds = []
    for p in summary["produce"]:
        r = o["per_produce"][p]
        off = f" ({_signed_pct(r['counted'], r['truth'])})" if r["truth"] and r["counted"] != r["truth"] else ""
        kinds.append(f"{p} {r['counted']}/{r['truth']}{off}")
    twice = o["counted_twice"]
    dup = (f"no item in {o['truth_total']:,} counted twice" if twice == 0
           else f"{twice} of {o['truth_total']:,} items counted twice")
    notes = []
    thresholds = summary.get("flag_below") or {}
    if thresholds:
        values = set(thresholds.values())
        notes.append(f"flag threshold {values.pop():g}" if len(values) == 1
                     else "flag thresholds " + ", ".join(f"{p} {t:g}" for p, t in thresholds.items()))
    version = (summary.get("model") or {}).get("version")
    if version:
        notes.append(f"model {version}")
    tail = f" ({', '.join(notes)})" if notes else ""
    return (f"Over all clips: {', '.join(kinds)}; {dup}; flags precision {_ratio(o['flag_precision'])}, "
            f"recall {_ratio(o['flag_recall'])}{tail}.")


def format_markdown(summary: Mapping[str, Any]) -> str:
    """The README's table followed by its "Over all clips" line."""
    return "\n".join([*markdown_rows(summary), "", overall_line(summary)])


def ensure_clip(folder: Path, spec: ClipSpec) -> tuple[dict[str, Any], bool]:
    """The clip in ``folder``: reused when its truth.json was made with ``spec``'s parameters (and the video is
    there), else rendered; returns (truth, rendered)."""
    from edge.tools.demo import render_clip

    truth_path = folder / "truth.json"
    try:
        truth = json.loads(truth_path.read_text())
        if isinstance(truth, dict) and spec.made(truth) and (folder / "clip.mp4").is_file():
            return truth, False
    except (OSError, ValueError):
        pass  # none yet, or cut short: render it
    # The renderer writes truth.json last: without a stale one, a render cut short is never taken for a whole clip.
    truth_path.unlink(missing_ok=True)
    return render_clip(folder, spec.seconds, spec.fps, spec.seed, spec.speed, spec.density), True


def inspect_clip(folder: Path, truth: Mapping[str, Any], detector: Detector, info: Mapping[str, Any],
                 flag_below: float | None, grader: Grader | None = None) -> tuple[dict[str, Any], dict[str, float]]:
    """`qc inspect --truth` on one rendered clip (counting line through the frame centre, belt running +x), graded by
    ``grader`` when given; returns the truth report and the flag thresholds used."""
    from edge.tools.inspect import inspect_video, video_meta
    from edge.tracking import CounterConfig, CountingLine, FlagPolicy
    from edge.tracking.scoring import score_against_truth

    video = folder / "clip.mp4"
    config = None
    if flag_below is not None:  # as `qc inspect --flag-below` builds it
        _, _, width, _ = video_meta(video)
        config = CounterConfig(line=CountingLine.vertical((width or 640) / 2), flags=FlagPolicy(default=flag_below))
    report, items = inspect_video(video, detector, config=config, model_info=dict(info), grader=grader)
    score = score_against_truth(items, truth, CountingLine.from_dict(report["line"]))
    return score, report["flag_below"]


def run_clips(
    specs: Sequence[ClipSpec], work: Path, detector: Detector, info: Mapping[str, Any], *, flag_below: float | None,
    jobs: int = 1, say: Callable[[str], None] = lambda _: None, grader: Grader | None = None,
) -> tuple[list[tuple[ClipSpec, dict[str, Any]]], dict[str, float]]:
    """Render (or reuse) and inspect every clip; returns each clip's truth report and the flag thresholds used.

    Up to ``jobs`` clips render at once in child processes while this process inspects the clips in grid order, so
    rendering overlaps inspection. ``say`` gets one progress line per clip. ``grader``: the model version's grader.
    """
    from concurrent.futures import Future, ThreadPoolExecutor

    start = time.monotonic()
    results: list[tuple[ClipSpec, dict[str, Any]]] = []
    thresholds: dict[str, float] = {}
    executor = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="qc-count-table-render")
    try:
        renders: list[Future[tuple[dict[str, Any], bool]]] = [
            executor.submit(ensure_clip, work / spec.folder, spec) for spec in specs
        ]
        for n, (spec, render) in enumerate(zip(specs, renders), 1):
            truth, rendered = render.result()
            score, thresholds = inspect_clip(work / spec.folder, truth, detector, info, flag_below, grader)
            results.append((spec, score))
            elapsed = time.strftime("%H:%M:%S", time.gmtime(time.monotonic() - start))
            say(f"clip {n}/{len(specs)} [{elapsed}] {spec.speed:g} m/s, {spec.density:g} items/m, seed {spec.seed}"
                f" ({'rendered' if rendered else 'reused'}): counted {score['counted_total']}, truth "
                f"{score['truth_total']}, counted twice {score['duplicates']}")
    finally:
        executor.shutdown(wait=True, cancel_futures=True)  # on an error or Ctrl-C: no more renders start
    return results, thresholds
