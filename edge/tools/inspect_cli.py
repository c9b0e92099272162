"""The `qc inspect` command: options and output only; the pipeline is `edge.tools.inspect`, imported when the command
runs (the pipeline never imports the command: no circle).

Kept apart so that registering the command (every `qc` call) does not import the detector, the tracker libraries
and OpenCV.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from vision.taxonomy import DEFAULT_FLAG_BELOW


def inspect(
    video: Annotated[
        Path, typer.Argument(help="Video file to inspect (anything OpenCV decodes, e.g. a qc synth clip).")
    ],
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as one JSON object on stdout.")] = False,
    model: Annotated[
        Path | None, typer.Option(help="ONNX model to use instead of the registry's production model.")
    ] = None,
    grader: Annotated[
        Path | None,
        typer.Option(help="ONNX grader (a YOLO classify export) to grade each counted item with, instead of the "
                          "model version's: e.g. an unregistered pair with --model. Its card section is the card's "
                          "when the sha256 matches, else read from the file (classes from its embedded names)."),
    ] = None,
    line: Annotated[
        str | None,
        typer.Option(help="Counting line 'x=POS' or 'y=POS', optionally ':+x'/':-x'/':+y'/':-y' for the belt "
                          "direction (default: x through the frame centre, belt running +x)."),
    ] = None,
    sku: Annotated[
        str | None, typer.Option(help="SKU tag sent with every frame: a produce name (e.g. apple) or CODE=PRODUCE.")
    ] = None,
    flag_below: Annotated[
        float | None,
        typer.Option(min=0.0, max=1.0,
                     help=f"Flag items whose freshness is below this (default {DEFAULT_FLAG_BELOW})."),
    ] = None,
    conf: Annotated[float, typer.Option(min=0.0, max=1.0, help="Detector confidence threshold.")] = 0.25,
    truth: Annotated[
        Path | None, typer.Option(help="A qc synth clip truth.json: add counted-vs-truth and flag precision/recall.")
    ] = None,
    crops: Annotated[Path | None, typer.Option(help="Folder to write the best crop of each flagged item to.")] = None,
) -> None:
    """Run detection, tracking and counting over a recorded video and report what was counted and flagged."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from edge.tools.inspect import inspect_video, load_models, video_meta, write_crops
    from edge.tracking import CounterConfig, CountingLine, FlagPolicy
    from edge.tracking.scoring import score_against_truth
    from vision.errors import InputError

    err = Console(stderr=True)
    counting_line = CountingLine.parse(line) if line else None
    sku_tag, sku_map = sku, {}
    if sku and "=" in sku:
        code, produce = (s.strip() for s in sku.split("=", 1))
        if not code or not produce:
            raise InputError(f"--sku {sku!r}: expected CODE=PRODUCE")
        sku_tag, sku_map = code, {code: produce}
    truth_doc = _read_truth(truth) if truth is not None else None  # fail before the long run, not after
    models = load_models(model, conf, grader)
    detector, info = models.detector, models.info
    if sku_tag and not sku_map and sku_tag.strip().lower() not in detector.taxonomy.produce:
        raise InputError(
            f"--sku {sku!r} is not a produce kind {list(detector.taxonomy.produce)}; use CODE=PRODUCE for a SKU code"
        )
    config = None
    if counting_line is not None or flag_below is not None or sku_map:
        if counting_line is None:
            _, _, width, _ = video_meta(video)
            counting_line = CountingLine.vertical((width or 640) / 2)
        flags = FlagPolicy() if flag_below is None else FlagPolicy(default=flag_below)
        config = CounterConfig(line=counting_line, flags=flags, sku_produce=sku_map)
    graded = f", grader {info['grader']['path']}" if info["grader"] else ", no grader"
    err.print(f"model {info['version'] or info['path']} on {info['provider']}{graded}", highlight=False)
    with Progress(
        TextColumn("inspect"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=err, transient=True
    ) as progress:
        task = progress.add_task("frames", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total or None)

        report, items = inspect_video(
            video, detector, line=counting_line, config=config, sku=sku_tag, model_info=info, grader=models.grader,
            on_progress=advance,
        )
    if truth_doc is not None:
        report["truth"] = score_against_truth(items, truth_doc, CountingLine.from_dict(report["line"]))
    if crops is not None:
        report["crops"] = [str(p) for p in write_crops(items, crops)]
    if json_out:
        sys.stdout.write(json.dumps(report) + os.linesep)
        return
    _print_table(report)


def _read_truth(path: Path) -> dict[str, Any]:
    from vision.errors import InputError

    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as exc:  # ValueError: not JSON, or not text at all
        raise InputError(f"cannot read truth file {path}: {exc}") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("items"), list):
        raise InputError(f"truth file {path} has no 'items' list (expected a qc synth clip truth.json)")
    return raw


def _print_table(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    speed = report["belt_speed_px_per_frame"]
    table = Table(title=f"{report['video']}: {report['frames']} frames, belt {speed} px/frame")
    truth = report.get("truth", {}).get("per_produce", {})
    table.add_column("produce")
    table.add_column("counted", justify="right")
    table.add_column("flagged", justify="right")
    if truth:
        table.add_column("truth", justify="right")
        table.add_column("truth spoiled", justify="right")
    for produce, n in report["counts"].items():
        row = [produce, str(n), str(report["flagged"][produce])]
        if truth:
            t = truth.get(produce, {})
            row += [str(t.get("truth", 0)), str(t.get("truth_spoiled", 0))]
        table.add_row(*row)
    console = Console()
    console.print(table)
    if report.get("vetoed"):
        console.print(f"{report['vetoed']} more crossed the line but the grader called them no produce (not counted)",
                      highlight=False)
    score = report.get("truth")
    if score:  # the rest of the comparison, as in --json: a count that matches can still hide errors
        def share(value: float | None) -> str:
            return "-" if value is None else f"{value:.0%}"

        console.print(
            f"truth {score['truth_total']} crossing the line, counted {score['counted_total']}: "
            f"duplicates {score['duplicates']}, missed {score['missed']}, spurious {score['spurious']}, "
            f"wrong produce {score['wrong_produce']}\n"
            f"flags: precision {share(score['flag_precision'])} ({score['flag_tp']} of "
            f"{score['flag_tp'] + score['flag_fp']} flagged are spoiled), recall {share(score['flag_recall'])} "
            f"(of {score['truth_spoiled']} spoiled)",
            highlight=False,
        )
        for line in error_lines(score["errors"]):
            console.print(line, highlight=False)


def error_lines(errors: dict[str, list[dict[str, Any]]]) -> list[str]:
    """One line per kind of counting error that occurred, naming its items (truth ids, track ids, frames), so a
    miscount can be looked up in the clip."""
    lines = []
    if errors["counted_twice"]:
        lines.append("counted twice: " + "; ".join(
            f"truth {e['truth_id']} ({e['produce']}) as tracks {', '.join(map(str, e['track_ids']))}"
            for e in errors["counted_twice"]))
    if errors["missed"]:
        lines.append("missed: " + "; ".join(
            f"truth {e['truth_id']} ({e['condition']} {e['produce']}, frames {e['frames'][0]}-{e['frames'][1]})"
            for e in errors["missed"]))
    if errors["spurious"]:
        lines.append("spurious: " + "; ".join(
            f"track {e['track_id']} ({e['produce']}, frame {e['frame']})" for e in errors["spurious"]))
    if errors["wrong_produce"]:
        lines.append("wrong produce: " + "; ".join(
            f"track {e['track_id']} counted {e['counted']}, truth {e['truth_id']} is {e['truth']}"
            for e in errors["wrong_produce"]))
    return lines
