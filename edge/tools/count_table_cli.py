"""The `qc count-table` command: options and output only; the grid, pooling and formatting are `edge.tools.count_table`.

Kept apart so that registering the command (every `qc` call) imports neither the detector nor OpenCV.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from vision.taxonomy import DEFAULT_FLAG_BELOW

N = TypeVar("N", int, float)

SEEDS_HELP = "Comma-separated clip seeds, pooled within each cell (seeds no setting was tuned on)."
SPEEDS_HELP = "Comma-separated belt speeds, m/s: one row of cells each."
DENSITIES_HELP = "Comma-separated densities, items per metre of belt: one cell per speed each."
MODEL_HELP = "ONNX model to use instead of the registry's production model (a card.json beside it is used)."
FLAG_HELP = f"Flag items whose freshness is below this (default: qc inspect's, {DEFAULT_FLAG_BELOW})."
WORK_HELP = ("Keep the rendered clips in this folder; a clip whose truth.json has the same parameters is reused "
             "(default: a temporary folder, removed).")
MARKDOWN_HELP = "Print the README's markdown table and its \"Over all clips\" line."
JOBS_HELP = "Clips rendered at once in child processes while this process inspects the rendered ones."
VOTE_HELP = ("Produce-vote calibration to measure instead of the model card's spoiled_vote: KIND=FACTOR[,KIND=FACTOR] "
             "with factors in (0, 1], or 'none' for no discount. Measure a new model's with a few factors, then put "
             "the best into its card before registering it.")


def count_table(
    seeds: Annotated[str, typer.Option(help=SEEDS_HELP)] = "9001,9002,9003,9004",
    speeds: Annotated[str, typer.Option(help=SPEEDS_HELP)] = "0.5,1.5,2.5",
    densities: Annotated[str, typer.Option(help=DENSITIES_HELP)] = "2,4,6",
    seconds: Annotated[float, typer.Option(min=0.1, help="Length of each rendered clip, seconds.")] = 20.0,
    fps: Annotated[float, typer.Option(min=1.0, max=240.0, help="Frame rate of each rendered clip.")] = 15.0,
    model: Annotated[Path | None, typer.Option(help=MODEL_HELP)] = None,
    flag_below: Annotated[float | None, typer.Option(min=0.0, max=1.0, help=FLAG_HELP)] = None,
    work: Annotated[Path | None, typer.Option(help=WORK_HELP)] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the table as one JSON object on stdout.")] = False,
    markdown: Annotated[bool, typer.Option("--markdown", help=MARKDOWN_HELP)] = False,
    jobs: Annotated[int, typer.Option(min=1, help=JOBS_HELP)] = 1,
    spoiled_vote: Annotated[str | None, typer.Option(help=VOTE_HELP)] = None,
) -> None:
    """Counting accuracy of `qc inspect` over rendered clips per belt speed and density (the README's table).

    Exit 0 whether or not the issue's bars hold (the JSON's ``pass`` says); 2 on bad input.
    """
    from vision.errors import InputError

    if json_out and markdown:
        raise InputError("--json and --markdown: choose one")
    seed_list = parse_list("--seeds", seeds, int)
    speed_list = parse_list("--speeds", speeds, float, positive=True)
    density_list = parse_list("--densities", densities, float, positive=True)
    if model is not None and not model.is_file():
        raise InputError(f"--model {model}: no such file")
    if work is not None and work.exists() and not work.is_dir():
        raise InputError(f"--work {work}: not a folder")
    factors = parse_factors("--spoiled-vote", spoiled_vote) if spoiled_vote is not None else None
    if factors is not None:  # ranges now, before the model loads; its produce kinds once it has
        check_factors("--spoiled-vote", spoiled_vote or "", factors)

    from edge.tools.count_table import grid, run_clips, summarize
    from edge.tools.inspect import load_models

    models = load_models(model)  # the version's grader too: the table measures what the service would count
    detector, info = models.detector, models.info
    if factors is not None:
        check_factors("--spoiled-vote", spoiled_vote or "", factors, detector.taxonomy.produce)
        info["spoiled_vote"] = factors
    specs = grid(seed_list, speed_list, density_list, seconds, fps)
    folder = work or Path(tempfile.mkdtemp(prefix="qc-count-table-"))
    folder.mkdir(parents=True, exist_ok=True)
    say(f"model {info['version'] or info['path']} on {info['provider']}; {len(specs)} clips of {seconds:g} s at "
        f"{fps:g} fps in {folder}")
    try:
        results, thresholds = run_clips(specs, folder, detector, info, flag_below=flag_below, jobs=jobs, say=say,
                                        grader=models.grader)
    finally:
        if work is None:
            shutil.rmtree(folder, ignore_errors=True)
    summary: dict[str, Any] = {
        "model": info, "flag_below": thresholds, "seconds": seconds, "fps": fps, "seeds": seed_list,
        **summarize(results, list(detector.taxonomy.produce)),
    }
    if json_out:
        sys.stdout.write(json.dumps(summary) + os.linesep)
    elif markdown:
        from edge.tools.count_table import format_markdown

        typer.echo(format_markdown(summary))
    else:
        _print_table(summary)


def parse_list(option: str, text: str, kind: Callable[[str], N], *, positive: bool = False) -> list[N]:
    """A comma-separated option as numbers; InputError naming the option and the bad entry (not a number, not > 0,
    listed twice) or an empty list."""
    from vision.errors import InputError

    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise InputError(f"{option} {text!r}: empty list")
    out: list[N] = []
    for part in parts:
        try:
            value = kind(part)
        except ValueError:
            noun = "an integer" if kind is int else "a number"
            raise InputError(f"{option} {text!r}: {part!r} is not {noun}") from None
        if positive and not (math.isfinite(value) and value > 0):
            raise InputError(f"{option} {text!r}: {part!r} must be a number > 0")
        if value in out:
            raise InputError(f"{option} {text!r}: {part!r} is listed twice")
        out.append(value)
    return out


def parse_factors(option: str, text: str) -> dict[str, float]:
    """``KIND=FACTOR[,KIND=FACTOR]`` (or ``none``: empty) as a dict; InputError naming the option and the bad entry
    (no ``=``, not a number, a kind listed twice). Ranges and kinds are the caller's to check."""
    from vision.errors import InputError

    if text.strip().lower() == "none":
        return {}
    out: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",")):
        kind, sep, value = part.partition("=")
        kind = kind.strip()
        if not sep or not kind:
            raise InputError(f"{option} {text!r}: {part!r} is not KIND=FACTOR (or pass 'none')")
        if kind in out:
            raise InputError(f"{option} {text!r}: {kind!r} is listed twice")
        try:
            out[kind] = float(value)
        except ValueError:
            raise InputError(f"{option} {text!r}: {value.strip()!r} is not a number") from None
    return out


def check_factors(option: str, text: str, factors: dict[str, float], produce: Sequence[str] | None = None) -> None:
    """`vision.model_card.check_spoiled_vote` on an option's factors, its InputError naming the option."""
    from vision.errors import InputError
    from vision.model_card import check_spoiled_vote

    try:
        check_spoiled_vote(factors, produce)
    except InputError as exc:
        raise InputError(f"{option} {text!r}: {exc}") from None


def say(text: str) -> None:
    """A progress line on stderr (stdout carries the table only)."""
    typer.echo(text, err=True)


def _print_table(summary: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    from edge.tools.count_table import head, overall_line, row_values

    produce = summary["produce"]
    model = summary["model"].get("version") or summary["model"].get("path")
    table = Table(title=f"counting accuracy: model {model}, {summary['seconds']:g} s clips at {summary['fps']:g} fps, "
                        f"seeds {', '.join(map(str, summary['seeds']))}")
    for i, name in enumerate(head(produce)):
        table.add_column(name, justify="left" if i < 2 else "right")
    for c in summary["cells"]:
        table.add_row(f"{c['speed']:g}", f"{c['density']:g}", *row_values(c, produce),
                      style=None if c["pass"]["all"] else "yellow")  # a cell off one of the bars
    table.add_section()
    table.add_row("all clips", "", *row_values(summary["overall"], produce), style="bold")
    console = Console()
    console.print(table)
    console.print(overall_line(summary), highlight=False)
    verdict = {True: "yes", False: "no"}
    p = summary["pass"]
    console.print(f"counting bars: every produce within 2 % in every cell: {verdict[p['counts_within_2pct']]}; "
                  f"nothing counted twice: {verdict[p['none_counted_twice']]}; flag P and R >= 0.9 in every cell: "
                  f"{verdict[p['flags_at_least_0.9']]}", highlight=False)
