"""`qc count-table`: pooling truth reports per cell (counts added, then divided), the issue's pass bars, the README's
markdown table, reusing a kept clip, bad input (exit 2), and one real run over a rendered 2 s clip."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from edge.tools.count_table import ClipSpec, ensure_clip, format_markdown, summarize
from edge.tools.count_table_cli import parse_factors
from vision.cli import build_app
from vision.registry import DEFAULT_MODEL_DIR

pytestmark = pytest.mark.slow  # renders and counts clips

PRODUCE = ["apple", "banana", "orange", "tomato"]
SHIPPED = DEFAULT_MODEL_DIR / "model.onnx"


def score(per: dict[str, tuple[int, int]], *, duplicates: int = 0, missed: int = 0, spurious: int = 0,
          wrong: int = 0, tp: int = 0, fp: int = 0, spoiled: int = 0) -> dict[str, Any]:
    """A `score_against_truth` report by hand: ``per`` maps produce -> (counted, truth)."""
    return {
        "per_produce": {p: {"truth": t, "counted": c, "truth_spoiled": 0, "flagged": 0} for p, (c, t) in per.items()},
        "truth_total": sum(t for _, t in per.values()),
        "counted_total": sum(c for c, _ in per.values()),
        "duplicates": duplicates, "missed": missed, "spurious": spurious, "wrong_produce": wrong,
        "flag_tp": tp, "flag_fp": fp, "truth_spoiled": spoiled,
    }


def spec(speed: float, density: float, seed: int) -> ClipSpec:
    return ClipSpec(speed, density, seed, 20.0, 15.0)


def test_pooling_adds_counts_then_divides_and_sets_the_pass_bars() -> None:
    results = [
        # Exactly 2 % off on apples (passes); flags 8/10 and 1/1: averaging the ratios would say 0.90, pooled 9/11.
        (spec(0.5, 2, 1), score({"apple": (49, 50), "banana": (20, 20)}, tp=8, fp=2, spoiled=8)),
        (spec(0.5, 2, 2), score({"banana": (10, 10), "orange": (5, 5)}, tp=1, spoiled=1)),
        # 3 % off on bananas; flags fine.
        (spec(1.5, 2, 1), score({"banana": (97, 100)}, tp=9, spoiled=10, wrong=2)),
        # One item counted twice, counts within 2 %.
        (spec(2.5, 6, 1), score({"tomato": (101, 100)}, duplicates=1, spurious=1, tp=10, spoiled=10)),
    ]
    summary = summarize(results, PRODUCE)
    first, bananas_off, doubled = summary["cells"]

    assert (first["speed"], first["density"], first["seeds"], first["clips"]) == (0.5, 2, [1, 2], 2)
    assert first["per_produce"]["banana"]["counted"] == 30 and first["per_produce"]["banana"]["truth"] == 30
    assert first["per_produce"]["tomato"] == {"truth": 0, "counted": 0, "truth_spoiled": 0, "flagged": 0,
                                              "error": None}
    assert first["worst_error"] == pytest.approx(0.02)
    assert first["flag_precision"] == pytest.approx(9 / 11) and first["flag_recall"] == pytest.approx(1.0)
    assert first["pass"] == {"counts_within_2pct": True, "none_counted_twice": True, "flags_at_least_0.9": False,
                             "all": False}

    assert bananas_off["per_produce"]["banana"]["error"] == pytest.approx(-0.03)
    assert bananas_off["pass"]["counts_within_2pct"] is False and bananas_off["pass"]["flags_at_least_0.9"] is True
    assert bananas_off["wrong_produce"] == 2

    assert doubled["counted_twice"] == 1 and doubled["spurious"] == 1
    assert doubled["pass"] == {"counts_within_2pct": True, "none_counted_twice": False, "flags_at_least_0.9": True,
                               "all": False}

    overall = summary["overall"]
    assert overall["clips"] == 4 and overall["counted_twice"] == 1
    assert overall["per_produce"]["banana"]["counted"] == 127 and overall["per_produce"]["banana"]["truth"] == 130
    assert overall["truth_total"] == 285 and overall["counted_total"] == 282
    assert overall["flag_precision"] == pytest.approx(28 / 30) and overall["flag_recall"] == pytest.approx(28 / 29)
    assert summary["pass"] == {"counts_within_2pct": False, "none_counted_twice": False, "flags_at_least_0.9": False,
                               "all": False}
    assert [c["seed"] for c in summary["clips"]] == [1, 2, 1, 1]


def test_a_produce_kind_counted_without_truth_items_fails_the_count_bar() -> None:
    summary = summarize([(spec(1.5, 2, 1), score({"apple": (10, 10), "orange": (1, 0)}, spurious=1))], PRODUCE)
    cell = summary["cells"][0]
    assert cell["per_produce"]["orange"]["error"] is None and cell["worst_error"] == 0.0
    assert cell["pass"]["counts_within_2pct"] is False
    assert summary["pass"]["flags_at_least_0.9"] is True  # nothing flagged, nothing spoiled: nothing to fail


def test_markdown_is_the_readme_table_and_its_summary_line() -> None:
    results = [
        (spec(0.5, 2, 1), score({"apple": (28, 29), "banana": (37, 37), "orange": (40, 39), "tomato": (48, 48)},
                                wrong=3, tp=10, spoiled=10)),
        (spec(2.5, 6, 1), score({"apple": (300, 305), "banana": (295, 296), "orange": (309, 306),
                                 "tomato": (266, 264)}, missed=1, wrong=9, tp=99, fp=1, spoiled=103)),
    ]
    summary = {**summarize(results, PRODUCE), "flag_below": {p: 0.8 for p in PRODUCE}, "model": {"version": "v0002"}}
    assert format_markdown(summary).splitlines() == [
        "| m/s | items/m | apple | banana | orange | tomato | worst error | counted twice | missed | spurious "
        "| wrong produce | flag P | flag R |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        "| 0.5 | 2 | 28/29 | 37/37 | 40/39 | 48/48 | 3.4 % | 0 | 0 | 0 | 3 | 1.00 | 1.00 |",
        "| 2.5 | 6 | 300/305 | 295/296 | 309/306 | 266/264 | 1.6 % | 0 | 1 | 0 | 9 | 0.99 | 0.96 |",
        "",
        "Over all clips: apple 328/334 (−1.8 %), banana 332/333 (−0.3 %), orange 349/345 (+1.2 %), tomato 314/312 "
        "(+0.6 %); no item in 1,324 counted twice; flags precision 0.99, recall 0.96 (flag threshold 0.8, "
        "model v0002).",
    ]


def test_a_kept_clip_with_the_same_parameters_is_reused(tmp_path: Path) -> None:
    clip = spec(1.5, 4, 7)
    folder = tmp_path / clip.folder
    folder.mkdir()
    (folder / "clip.mp4").write_bytes(b"not rendered here")
    truth = {"seed": 7, "seconds": 20.0, "fps": 15.0, "speed_m_per_s": 1.5, "density_items_per_m": 4.0, "items": []}
    (folder / "truth.json").write_text(json.dumps(truth))
    assert ensure_clip(folder, clip) == (truth, False)
    assert not clip.made({**truth, "density_items_per_m": 6.0}) and not clip.made({"seed": 7})
    assert spec(1.5, 4, 7).folder != spec(1.5, 4, 8).folder != spec(1.5, 6, 7).folder


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--speeds", "0.5,x"], "--speeds '0.5,x': 'x' is not a number"),
        (["--seeds", ""], "--seeds '': empty list"),
        (["--densities", "2,-4"], "'-4' must be a number > 0"),
        (["--seeds", "1,1"], "'1' is listed twice"),
        (["--model", "missing.onnx"], "--model missing.onnx: no such file"),
        (["--spoiled-vote", "tomato"], "--spoiled-vote 'tomato': 'tomato' is not KIND=FACTOR (or pass 'none')"),
        (["--spoiled-vote", "tomato=x"], "--spoiled-vote 'tomato=x': 'x' is not a number"),
        (["--spoiled-vote", "tomato=0.3,tomato=0.4"], "'tomato' is listed twice"),
        (["--spoiled-vote", "tomato=0"], "--spoiled-vote 'tomato=0': spoiled_vote['tomato'] must be within (0, 1]"),
    ],
)
def test_bad_input_exits_2_naming_it(args: list[str], message: str, tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "vision.cli", "count-table", *args, "--json"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and done.stdout == ""


@pytest.mark.skipif(not SHIPPED.is_file(), reason="the shipped model (vision/default_model) is not there yet")
def test_one_real_cell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 2 s clip rendered by `qc synth clip` and counted by the registry's production model (seeded from the
    shipped one), through the registered `qc count-table` command."""
    monkeypatch.setenv("QC_REGISTRY", str(tmp_path / "registry"))
    result = CliRunner().invoke(
        build_app(),
        ["count-table", "--seeds", "1", "--speeds", "1.5", "--densities", "2", "--seconds", "2", "--json"],
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    (cell,) = out["cells"]
    assert (cell["speed"], cell["density"], cell["seeds"]) == (1.5, 2, [1])
    per = cell["per_produce"]
    assert list(per) == out["produce"] == ["apple", "banana", "orange", "tomato"]
    assert cell["truth_total"] > 0 and cell["truth_total"] == sum(r["truth"] for r in per.values())
    assert cell["counted_total"] == sum(r["counted"] for r in per.values())
    assert out["overall"]["counted_total"] == cell["counted_total"]
    assert set(out["pass"]) == {"counts_within_2pct", "none_counted_twice", "flags_at_least_0.9", "all"}
    assert all(isinstance(v, bool) for v in out["pass"].values())
    assert "clip 1/1" in result.stderr
    shipped = json.loads((DEFAULT_MODEL_DIR / "card.json").read_text())
    assert out["model"]["spoiled_vote"] == shipped["spoiled_vote"]  # the production card's calibration counted


@pytest.mark.skipif(not SHIPPED.is_file(), reason="the shipped model (vision/default_model) is not there yet")
def test_a_calibration_to_measure_must_name_the_models_produce_kinds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QC_REGISTRY", str(tmp_path / "registry"))
    done = subprocess.run([sys.executable, "-m", "vision.cli", "count-table", "--spoiled-vote", "kiwi=0.5"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "--spoiled-vote 'kiwi=0.5': spoiled_vote names unknown produce kinds ['kiwi']" in done.stderr


def test_calibration_text_becomes_factors() -> None:
    assert parse_factors("--spoiled-vote", "tomato=0.37, apple = 0.5") == {"tomato": 0.37, "apple": 0.5}
    assert parse_factors("--spoiled-vote", "None") == {}
