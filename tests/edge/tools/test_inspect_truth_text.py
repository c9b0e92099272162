"""`qc inspect --truth` without --json: the human-readable report carries the whole comparison with the truth."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from edge.tools.inspect_cli import inspect
from vision.registry import DEFAULT_MODEL_DIR
from vision.taxonomy import Taxonomy

SHIPPED = DEFAULT_MODEL_DIR / "model.onnx"


def cli() -> typer.Typer:
    app = typer.Typer()
    app.command("inspect")(inspect)
    app.command("noop")(lambda: None)  # a second command keeps typer from collapsing the app into `inspect`
    return app


@pytest.mark.skipif(not SHIPPED.is_file(), reason="no shipped model")
def test_text_report_shows_duplicates_missed_spurious_and_flag_scores(tmp_path: Path, taxonomy: Taxonomy) -> None:
    """The table used to show counted/flagged/truth per produce only: duplicates, missed, spurious items and the
    flag precision and recall were in --json alone, so a count that matched by luck looked right."""
    from training.synth.clip import generate_clip

    generate_clip(tmp_path, 2.0, 15.0, 8811, taxonomy, speed=1.5, density=4, spoiled_share=0.5)
    args = ["inspect", str(tmp_path / "clip.mp4"), "--model", str(SHIPPED), "--truth", str(tmp_path / "truth.json")]
    as_json = CliRunner().invoke(cli(), [*args, "--json"])
    assert as_json.exit_code == 0, as_json.output
    score = json.loads(as_json.stdout)["truth"]
    text = CliRunner().invoke(cli(), args, terminal_width=120)
    assert text.exit_code == 0, text.output
    out = " ".join(text.stdout.split())
    line = re.search(r"truth (\d+) crossing the line, counted (\d+): duplicates (\d+), missed (\d+), "
                     r"spurious (\d+), wrong produce (\d+)", out)
    assert line is not None, text.stdout
    assert [int(v) for v in line.groups()] == [score[k] for k in ("truth_total", "counted_total", "duplicates",
                                                                   "missed", "spurious", "wrong_produce")]

    def share(value: float | None) -> str:
        return "-" if value is None else f"{value:.0%}"

    assert f"flags: precision {share(score['flag_precision'])} ({score['flag_tp']} of " in out
    assert f"recall {share(score['flag_recall'])} (of {score['truth_spoiled']} spoiled)" in out
