"""`qc inspect`: the offline pipeline over a rendered clip, its JSON report, its errors, and (once the shipped model
is there) counting with the real model."""

from __future__ import annotations

import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from edge.tools.inspect import inspect_video, load_models
from edge.tools.inspect_cli import inspect
from edge.tracking import CountingLine
from edge.tracking.scoring import score_against_truth
from vision.errors import InputError, QCError
from vision.registry import DEFAULT_MODEL_DIR
from vision.taxonomy import Taxonomy

SHIPPED = DEFAULT_MODEL_DIR / "model.onnx"


@pytest.fixture(scope="module")
def short_clip(tmp_path_factory: pytest.TempPathFactory, taxonomy: Taxonomy) -> Path:
    """2 s of belt at 1.5 m/s (a seed no setting was tuned on)."""
    from training.synth.clip import generate_clip

    out = tmp_path_factory.mktemp("inspect_clip")
    generate_clip(out, 2.0, 15.0, 8811, taxonomy, speed=1.5, density=4)
    return out


def cli() -> typer.Typer:
    app = typer.Typer()
    app.command("inspect")(inspect)
    app.command("noop")(lambda: None)  # a second command keeps typer from collapsing the app into `inspect`
    return app


def test_report_schema(short_clip: Path, untrained_onnx: Path) -> None:
    models = load_models(untrained_onnx)
    detector, info = models.detector, models.info
    report, items = inspect_video(short_clip / "clip.mp4", detector, model_info=info)
    json.dumps(report)  # JSON-ready
    assert report["frames"] == 30
    assert set(report["counts"]) == set(detector.taxonomy.produce) == set(report["flagged"])
    assert report["total"] == len(items) == len(report["items"]) == sum(report["counts"].values())
    assert report["model"]["path"] == str(untrained_onnx) and report["model"]["provider"]
    assert report["line"]["a"][0] == 320.0
    for entry in report["items"]:
        assert {"track_id", "produce", "condition", "freshness", "flagged", "first_frame", "last_frame",
                "counted_frame"} <= set(entry)
        assert entry["first_frame"] <= entry["counted_frame"] <= entry["last_frame"] + 30


def test_cli_json_on_stdout_and_truth_comparison(short_clip: Path, untrained_onnx: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli(),
        ["inspect", str(short_clip / "clip.mp4"), "--json", "--model", str(untrained_onnx), "--line", "x=300",
         "--truth", str(short_clip / "truth.json"), "--crops", str(tmp_path / "crops")],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["line"]["a"][0] == 300.0
    truth = report["truth"]
    assert truth["truth_total"] >= 3  # the clip has items crossing x=300
    assert sum(r["truth"] for r in truth["per_produce"].values()) == truth["truth_total"]
    assert len(report["crops"]) == report["total_flagged"]
    # The items behind the error counts are named, in the JSON and in the text report.
    errors = truth["errors"]
    assert len(errors["missed"]) == truth["missed"] and len(errors["spurious"]) == truth["spurious"]
    text = CliRunner().invoke(
        cli(),
        ["inspect", str(short_clip / "clip.mp4"), "--model", str(untrained_onnx), "--line", "x=300",
         "--truth", str(short_clip / "truth.json")],
    )
    assert text.exit_code == 0, text.output
    for kind, prefix in (("missed", "missed: truth "), ("spurious", "spurious: track ")):
        assert (prefix in text.output) == bool(truth[kind]), (kind, text.output)
    assert truth["missed"] + truth["spurious"] > 0  # an untrained model: the lines above were really printed


def test_cli_sku_and_flag_threshold(short_clip: Path, untrained_onnx: Path) -> None:
    result = CliRunner().invoke(
        cli(),
        ["inspect", str(short_clip / "clip.mp4"), "--json", "--model", str(untrained_onnx), "--sku", "4011=banana",
         "--flag-below", "0.3"],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["sku"] == "4011" and set(report["flag_below"].values()) == {0.3}
    assert all(it["produce"] == "banana" and it["sku"] == "4011" for it in report["items"])
    assert all(it["flagged"] == (it["freshness"] < 0.3) for it in report["items"])


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["missing.mp4"], "video not found"),
        (["{truth}"], "cannot open video|no decodable frames"),
        (["{clip}", "--line", "x=1:+y"], "downstream direction along x"),
        (["{clip}", "--sku", "durian"], "not a produce kind"),
        (["{clip}", "--sku", "=apple"], "CODE=PRODUCE"),
        (["{clip}", "--model", "nope.onnx"], "model file not found"),
        (["{clip}", "--truth", "{clip}"], "cannot read truth"),
    ],
)
def test_cli_errors_name_the_problem(short_clip: Path, untrained_onnx: Path, args: list[str], error: str) -> None:
    args = [a.format(clip=short_clip / "clip.mp4", truth=short_clip / "truth.json") for a in args]
    if "--model" not in args:
        args += ["--model", str(untrained_onnx)]
    result = CliRunner().invoke(cli(), ["inspect", *args, "--json"])
    assert isinstance(result.exception, QCError), result.output
    assert re.search(error, str(result.exception))


def test_an_empty_video_is_an_input_error(tmp_path: Path, untrained_onnx: Path) -> None:
    path = tmp_path / "empty.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 15.0, (64, 64))
    writer.release()
    detector = load_models(untrained_onnx).detector
    with pytest.raises(InputError):
        inspect_video(path, detector)


@pytest.mark.skipif(not SHIPPED.is_file(), reason="the shipped model (vision/default_model) is not there yet")
def test_shipped_model_counts_a_clip(
    tmp_path_factory: pytest.TempPathFactory, taxonomy: Taxonomy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The registry's production model (seeded from the shipped one) on 4 s of a clip at a seed never tuned on:
    nothing counted twice, totals within one item, spoiled items flagged."""
    from training.synth.clip import generate_clip

    monkeypatch.setenv("QC_REGISTRY", str(tmp_path_factory.mktemp("registry")))
    clip = tmp_path_factory.mktemp("shipped_clip")
    truth = generate_clip(clip, 4.0, 15.0, 9127, taxonomy, speed=2.0, density=4, spoiled_share=0.3)
    models = load_models(None)
    report, items = inspect_video(clip / "clip.mp4", models.detector, model_info=models.info, grader=models.grader)
    assert models.info["version"] is not None
    score = score_against_truth(items, truth, CountingLine.vertical(320))
    assert score["truth_total"] >= 8
    assert score["duplicates"] == 0
    assert abs(score["counted_total"] - score["truth_total"]) <= 1
    assert score["missed"] + score["spurious"] <= 2
    assert score["flag_recall"] is None or score["flag_recall"] >= 0.5
    assert np.isfinite(report["belt_speed_px_per_frame"])
    assert report["belt_speed_px_per_frame"] == pytest.approx(2.0 * 1000 / 15, abs=2)
