"""`qc train-grader` at toy scale: a real (1-epoch, 32-px) YOLO11n-cls from its yaml, offline, exported to ONNX with
class names our `Grader` reads and verifies."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from vision.cli import build_app
from vision.grader import Grader, grader_spec_from_onnx
from vision.taxonomy import Taxonomy

pytestmark = pytest.mark.slow


def _crops(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for split, n in (("train", 8), ("val", 4)):
        for cls, colour in (("apple_fresh", (40, 40, 200)), ("apple_rotten", (30, 40, 50))):
            folder = root / split / cls
            folder.mkdir(parents=True)
            for i in range(n):
                img = np.clip(np.full((48, 48, 3), colour, np.float32) + rng.normal(0, 8, (48, 48, 3)), 0, 255)
                cv2.imwrite(str(folder / f"{i}.jpg"), img.astype(np.uint8))
    return root


def test_train_grader_exports_a_grader_our_runtime_opens(tmp_path: Path) -> None:
    data = _crops(tmp_path / "crops")
    out = tmp_path / "run"
    result = CliRunner().invoke(build_app(), ["train-grader", "--data", str(data), "--out", str(out), "--epochs", "1",
                                              "--imgsz", "32", "--batch", "4"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "epoch 1/1" in result.stderr
    spec = grader_spec_from_onnx(out / "grader.onnx")
    assert sorted(spec.classes) == ["apple_fresh", "apple_rotten"] and spec.input_size == 32
    grader = Grader(out / "grader.onnx", spec, taxonomy=Taxonomy.load())
    probs = grader.grade(np.full((64, 64, 3), 90, np.uint8), np.array([[8, 8, 56, 56]], np.float32))
    assert probs.shape == (1, 2) and abs(float(probs.sum()) - 1.0) < 1e-4


def test_train_grader_refuses_a_folder_that_is_not_a_classification_set(tmp_path: Path) -> None:
    result = CliRunner().invoke(build_app(), ["train-grader", "--data", str(tmp_path), "--out", str(tmp_path / "r")])
    assert result.exit_code != 0
    assert "classification folder" in str(result.exception) + result.output


def test_train_grader_refuses_an_unknown_scale_before_training(tmp_path: Path) -> None:
    data = _crops(tmp_path / "crops")
    result = CliRunner().invoke(build_app(), ["train-grader", "--data", str(data), "--out", str(tmp_path / "r"),
                                              "--scale", "xl"])
    assert result.exit_code != 0
    assert "grader scale must be one of n, s, m" in str(result.exception) + result.output
    assert not (tmp_path / "r").exists()
