"""`qc bench` with a grader: its cost per item is measured and shown, and the service it starts serves the detector
and grader as one version. Keys and sane values only (speed is what the bench measures, not what a test asserts)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.tools.bench.options import BenchFrames, BenchModels, BenchOptions, DetectorRuns, ServiceLoad
from edge.tools.bench.run import run_bench
from edge.tracking.views import GRADE_VIEWS
from tests.training.testing_models import colour_grader_onnx, colour_grader_spec
from tests.vision.onnx_builders import tiny_detector_onnx
from vision.errors import InputError
from vision.model_card import ModelCardDraft
from vision.registry import GRADER_NAME
from vision.taxonomy import Taxonomy

pytestmark = pytest.mark.slow  # the bench's grader rounds


@pytest.fixture()
def setup(tmp_path: Path, taxonomy: Taxonomy) -> dict[str, Path]:
    frames = tmp_path / "frames"
    frames.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        cv2.imwrite(str(frames / f"{i}.jpg"), rng.integers(0, 255, (180, 320, 3), dtype=np.uint8))
    model = tiny_detector_onnx(tmp_path / "model.onnx", rows=4 + taxonomy.num_classes, h="h", w="w")
    grader = colour_grader_onnx(tmp_path / "grader_src.onnx")
    return {"frames": frames, "model": model, "grader": grader}


def options(setup: dict[str, Path], model: Path | None = None, grader: Path | None = None,
            **service: object) -> BenchOptions:
    return BenchOptions(
        models=BenchModels(model=model or setup["model"], peer=False, grader=grader),
        frames=BenchFrames(count=4, size=(320, 180), source=setup["frames"]),
        runs=DetectorRuns(batches=(2,), rounds=1),
        service=ServiceLoad(**{"streams": 0, **service}),  # type: ignore[arg-type]
    )


def test_the_grader_is_measured_per_item_when_given(setup: dict[str, Path]) -> None:
    report = run_bench(options(setup, grader=setup["grader"]))
    assert report.grader is not None
    doc = report.to_json()["grader"]
    assert doc["views"] == GRADE_VIEWS and doc["input_size"] == 64 and doc["provider"] == "CPUExecutionProvider"
    assert doc["turns"] == 1 and f"({GRADE_VIEWS} crops, one batch)" in report.table()
    assert doc["ms_per_item"] > 0 and doc["items_per_s"] == pytest.approx(1000 / doc["ms_per_item"], rel=0.01)
    assert doc["crop_ms"] > 0
    assert f"grader {setup['grader']}" in report.table() and "items/s" in report.table()
    json.dumps(report.to_json())

    plain = run_bench(options(setup))
    assert plain.grader is None and plain.to_json()["grader"] is None
    assert not any(line.startswith("grader ") for line in plain.table().splitlines())


def test_the_grader_named_by_the_card_beside_the_model_is_measured_and_served(
    setup: dict[str, Path], tmp_path: Path, taxonomy: Taxonomy
) -> None:
    folder = tmp_path / "version"
    folder.mkdir()
    model = folder / "model.onnx"
    model.write_bytes(setup["model"].read_bytes())
    (folder / GRADER_NAME).write_bytes(setup["grader"].read_bytes())
    ModelCardDraft(classes=list(taxonomy.class_names), taxonomy=taxonomy.to_dict(), input_size=(64, 64),
                   grader=colour_grader_spec(setup["grader"]).model_copy(update={"turns": 4})
                   ).save(folder / "card.json")
    report = run_bench(options(setup, model=model, streams=1, seconds=2.0, fps=5.0))
    assert report.grader is not None and report.grader.path == str(folder / GRADER_NAME)
    assert report.grader.turns == 4 and f"({GRADE_VIEWS} crops x 4 turns, one batch)" in report.table()
    assert report.service is not None and report.service.to_json()["frames_sent"] > 0

    (folder / GRADER_NAME).unlink()
    with pytest.raises(InputError, match="names a grader grader.onnx, not found beside it"):
        run_bench(options(setup, model=model))
