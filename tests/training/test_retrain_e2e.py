"""`qc retrain` end to end at toy scale: a real (1-epoch, imgsz 64) fine-tune of a registered production model,
real export with parity, real evaluations of both models, the gate, the registry and MLflow's file store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.training.testing_models import register_untrained_production
from training.retrain_data import held_back
from training.synth.frames import generate_frames
from vision.cli import build_app
from vision.dataset_manifest import file_sha256
from vision.registry import Registry
from vision.taxonomy import Taxonomy

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, taxonomy: Taxonomy) -> dict[str, Path]:
    """Base, reviews and a frozen hold-out (synthetic, tiny) and a registry whose production is an untrained model."""
    root = tmp_path_factory.mktemp("retrain")
    small = {"taxonomy": taxonomy, "width": 128, "height": 96}
    generate_frames(root / "base", 10, seed=11, val_share=0.3, test_share=0.0, **small)
    generate_frames(root / "reviews", 8, seed=12, val_share=0.25, test_share=0.0, **small)
    generate_frames(root / "holdout", 4, seed=13, val_share=0.0, test_share=1.0, **small)
    registry = Registry.open(root / "registry", seed_from=None)
    register_untrained_production(registry, taxonomy, root / "work", imgsz=64, grader=True)
    return {"root": root, "base": root / "base", "reviews": root / "reviews", "holdout": root / "holdout",
            "registry": root / "registry"}


def _retrain(setup: dict[str, Path], out: Path, *extra: str) -> tuple[int, str, str]:
    args = [
        "retrain", "--base", str(setup["base"]), "--reviews", str(setup["reviews"]), "--holdout", str(setup["holdout"]),
        "--registry", str(setup["registry"]), "--out", str(out), "--epochs", "1", "--imgsz", "64", "--batch", "4",
        "--workers", "0", "--no-cache", "--review-weight", "2", "--review-holdout", "0.3", "--parity-frames", "4",
        # A 1-epoch toy model scores everything near 0: the parity check needs boxes to compare.
        "--parity-conf", "0.0001",
        "--mlflow-uri", f"file:{setup['root'] / 'mlruns'}", *extra,
    ]
    result = CliRunner().invoke(build_app(), args, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_a_failing_gate_registers_nothing_and_says_why(setup: dict[str, Path]) -> None:
    before = [c.version for c in Registry.open(setup["registry"]).list()]
    out = setup["root"] / "run_fail"
    # A negative tolerance demands a 100-point mAP50 improvement: no model can pass it.
    code, stdout, stderr = _retrain(setup, out, "--tol-map50", "-1")

    assert code == 3, stderr
    assert "failed: holdout map50" in stdout
    for step in ("1/6 assemble", "2/6 train: epoch 1/1", "3/6 export", "4/6 evaluate", "5/6 gate", "6/6 register"):
        assert step in stderr
    report = json.loads((out / "retrain_report.json").read_text())
    assert report["passed"] is False and report["candidate"] is None and report["exit_code"] == 3
    failed = [c for c in report["gate"]["checks"] if not c["passed"]]
    assert {(c["eval_set"], c["metric"]) for c in failed} >= {("holdout", "map50")}
    assert [c.version for c in Registry.open(setup["registry"]).list()] == before

    # The assembled data: reviewed train frames twice, held-back reviewed frames only in the review hold-out.
    reviews = report["dataset"]["sources"]["reviews"]
    review_images = sorted((setup["reviews"] / "images").rglob("*.jpg"))
    expected_held = sum(held_back(file_sha256(p), 0.3) for p in review_images)
    assert reviews["held_back"] == expected_held and reviews["train"] + reviews["val"] + expected_held == 8
    train_dir = out / "dataset" / "images" / "train" / "reviews"
    assert len(list(train_dir.glob("*.jpg"))) == 2 * reviews["train"]
    assert len(report["dataset"]["hash"]) == 64
    if expected_held:
        assert set(report["evaluations"]) == {"holdout", "reviews"}


def test_a_passing_gate_registers_a_candidate_with_lineage_and_tracks_the_run(setup: dict[str, Path]) -> None:
    registry = Registry.open(setup["registry"])
    production = registry.production()
    out = setup["root"] / "run_pass"
    # Generous tolerances: a 1-epoch toy model is compared with an untrained one; the plumbing is under test here.
    code, stdout, stderr = _retrain(setup, out, "--tol-map50", "1", "--tol-flag-precision", "1",
                                    "--tol-flag-recall", "1")

    assert code == 0, stderr
    report = json.loads((out / "retrain_report.json").read_text())
    assert report["passed"] is True and report["reason"].startswith("passed")
    card = registry.get(report["candidate"]["version"])
    assert card.stage == "candidate" and card.parent_version == production.version
    assert registry.production().version == production.version  # the gate never promotes
    assert card.dataset is not None and card.dataset.hash == report["dataset"]["hash"]
    assert card.metrics["gate"]["passed"] is True and "holdout" in card.metrics["eval_sets"]
    assert card.training["command"] == "qc retrain" and card.training["review_weight"] == 2
    weights = registry.weights_path(card)
    assert weights is not None and weights.stat().st_size > 0
    # The grader is not retrained: the candidate carries production's, as one versioned unit with its detector.
    assert production.grader is not None and card.grader == production.grader
    grader = registry.grader_path(card)
    assert grader is not None and file_sha256(grader) == production.grader.sha256
    assert f"candidate: {card.version}" in stdout

    # MLflow: the run with its parameters, per-epoch and final metrics, the card and the report.
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"file:{setup['root'] / 'mlruns'}")
    run = client.get_run(card.training["mlflow_run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.params["epochs"] == "1" and run.data.params["production"] == production.version
    assert run.data.metrics["gate_passed"] == 1.0 and "candidate.holdout.map50" in run.data.metrics
    assert "metrics/mAP50_B_" in run.data.metrics
    assert {a.path for a in client.list_artifacts(run.info.run_id)} >= {"model_card.json", "retrain_report.json"}
