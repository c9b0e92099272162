"""`qc train`: a real (tiny) ultralytics run, offline, from yolo11n.yaml; and its errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from training.synth.frames import generate_frames
from training.train import TrainConfig, TrainError, train
from vision.taxonomy import Taxonomy

pytestmark = pytest.mark.slow  # trains a model


def test_one_epoch_trains_offline_and_writes_weights_and_report(tmp_path: Path, taxonomy: Taxonomy) -> None:
    data = tmp_path / "data"
    generate_frames(data, 12, seed=5, taxonomy=taxonomy, width=160, height=96, val_share=0.25, test_share=0.0)
    epochs_seen: list[int] = []
    result = train(
        TrainConfig(data=data, out=tmp_path / "run", epochs=1, imgsz=64, batch=4, workers=0, cache=False),
        on_epoch=lambda epoch, total, metrics: epochs_seen.append(epoch),
    )
    assert epochs_seen == [1]
    assert result.best.is_file() and result.last.is_file()
    report = json.loads(result.report.read_text())
    assert report["config"]["imgsz"] == 64 and report["versions"]["ultralytics"]
    assert "metrics/mAP50(B)" in report["metrics"]


def test_training_from_weights_starts_from_them(tmp_path: Path, taxonomy: Taxonomy) -> None:
    """Retraining must continue from the given weights; ultralytics silently starts from scratch when told
    ``pretrained=False``, and `train` refuses to run on when the model it trains is not the loaded one."""
    data = tmp_path / "data"
    generate_frames(data, 12, seed=5, taxonomy=taxonomy, width=160, height=96, val_share=0.25, test_share=0.0)
    first = train(TrainConfig(data=data, out=tmp_path / "a", epochs=1, imgsz=64, batch=4, workers=0, cache=False))
    second = train(
        TrainConfig(data=data, out=tmp_path / "b", epochs=1, imgsz=64, batch=4, workers=0, cache=False,
                    weights=first.best)
    )
    report = json.loads(second.report.read_text())
    assert report["config"]["weights"] == str(first.best)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (lambda p: TrainConfig(data=p / "missing", out=p / "r"), "data set not found"),
        (lambda p: TrainConfig(data=p, out=p / "r", weights=p / "nope.pt"), "weights not found"),
        (lambda p: TrainConfig(data=p, out=p / "r", epochs=0), "must be positive"),
    ],
)
def test_bad_training_input_is_named(tmp_path: Path, taxonomy: Taxonomy, config, message: str) -> None:
    generate_frames(tmp_path, 1, seed=1, taxonomy=taxonomy, width=96, height=64)
    with pytest.raises(TrainError, match=message):
        train(config(tmp_path))


def test_train_cli_reports_a_missing_data_set(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "vision.cli", "train", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "r")],
        capture_output=True, text=True,
    )
    assert done.returncode == 2
    assert "error: data set not found" in done.stderr
