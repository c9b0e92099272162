"""Experiment tracking: a real MLflow file store in a temp folder, and the quiet fallback without mlflow."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from training.tracking import NullRun, flatten, metric_name, tracking_run

mlflow = pytest.importorskip("mlflow", reason="the `track` extra (mlflow-skinny) is not installed")


def test_a_run_logs_params_metrics_and_artifacts_to_a_file_store(tmp_path: Path) -> None:
    uri = f"file:{tmp_path / 'mlruns'}"
    (tmp_path / "report.json").write_text("{}")
    lines: list[str] = []
    with tracking_run("qc-test", "run1", uri=uri, info=lines.append) as run:
        run.log_params({"epochs": 3, "tolerances": {"map50": 0.02}})
        run.log_metrics({"metrics/mAP50(B)": 0.25, "note": "text is skipped", "none": None}, step=1)
        run.log_metrics({"metrics/mAP50(B)": 0.5}, step=2)
        run.log_dict({"version": "v0002"}, "model_card.json")
        run.log_artifact(tmp_path / "report.json")
        run_id = run.run_id
    assert lines and f"run {run_id}" in lines[0]

    client = mlflow.tracking.MlflowClient(tracking_uri=uri)
    done = client.get_run(run_id)
    assert done.info.status == "FINISHED" and done.info.run_name == "run1"
    assert done.data.params == {"epochs": "3", "tolerances.map50": "0.02"}
    history = client.get_metric_history(run_id, "metrics/mAP50_B_")
    assert sorted((m.step, m.value) for m in history) == [(1, 0.25), (2, 0.5)]
    assert set(done.data.metrics) == {"metrics/mAP50_B_"}
    assert {a.path for a in client.list_artifacts(run_id)} == {"model_card.json", "report.json"}
    local = Path(done.info.artifact_uri.removeprefix("file://")) / "model_card.json"
    assert json.loads(local.read_text()) == {"version": "v0002"}


def test_a_run_that_raises_is_marked_failed(tmp_path: Path) -> None:
    uri = f"file:{tmp_path / 'mlruns'}"
    with pytest.raises(RuntimeError), tracking_run("qc-test", "boom", uri=uri) as run:
        run.log_params({"epochs": 1})
        run_id = run.run_id
        raise RuntimeError("training crashed")
    assert mlflow.tracking.MlflowClient(tracking_uri=uri).get_run(run_id).info.status == "FAILED"


def test_without_mlflow_one_info_line_and_nothing_fails(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "mlflow", None)  # what an install without the extra looks like to `import`
    monkeypatch.setitem(sys.modules, "mlflow.tracking", None)
    monkeypatch.chdir(tmp_path)
    lines: list[str] = []
    with tracking_run("qc-test", "run", info=lines.append) as run:
        run.log_params({"a": 1})
        run.log_metrics({"m": 1.0})
    assert isinstance(run, NullRun) and run.run_id is None
    assert len(lines) == 1 and "mlflow is not installed" in lines[0]
    assert not (tmp_path / "mlruns").exists()


def test_nothing_logged_leaves_no_run_behind(tmp_path: Path) -> None:
    lines: list[str] = []
    with tracking_run("qc-test", "never", uri=f"file:{tmp_path / 'mlruns'}", info=lines.append) as run:
        pass  # e.g. the command failed on its input before logging anything
    assert run.run_id is None and lines == [] and not (tmp_path / "mlruns").exists()


def test_turned_off_is_silent() -> None:
    lines: list[str] = []
    with tracking_run("qc-test", "run", enabled=False, info=lines.append) as run:
        assert isinstance(run, NullRun)
    assert lines == []


def test_names_are_made_acceptable_and_nested_values_flattened() -> None:
    assert metric_name("metrics/mAP50-95(B)") == "metrics/mAP50-95_B_"
    assert flatten({"a": {"b": 1, "c": {"d": 2}}, "e": 3}) == {"a.b": 1, "a.c.d": 2, "e": 3}


def test_qc_train_logs_params_epochs_and_its_report(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from training.synth.frames import generate_frames
    from vision.cli import build_app
    from vision.taxonomy import Taxonomy

    generate_frames(tmp_path / "data", 8, seed=3, taxonomy=Taxonomy.load(), width=128, height=96, val_share=0.25,
                    test_share=0.0)
    uri = f"file:{tmp_path / 'mlruns'}"
    result = CliRunner().invoke(build_app(), [
        "train", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "run"), "--epochs", "1", "--imgsz", "64",
        "--batch", "4", "--workers", "0", "--no-cache", "--mlflow-uri", uri,
    ], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    assert "tracking to MLflow" in result.stderr

    client = mlflow.tracking.MlflowClient(tracking_uri=uri)
    (run,) = client.search_runs([client.get_experiment_by_name("qc-train").experiment_id])
    assert run.info.status == "FINISHED" and run.data.params["epochs"] == "1" and run.data.params["imgsz"] == "64"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "metrics/mAP50_B_")] == [1, 1]
    assert {a.path for a in client.list_artifacts(run.info.run_id)} == {"train_report.json"}
