"""The edge's per-item decision applied offline (`training.graded`) and `qc eval --grader`, with a real classifier
in ONNX Runtime (the colour grader: red reads fresh apple, dark reads rotten apple)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from tests.training.testing_models import colour_grader_onnx, colour_grader_spec
from training.evaluate import evaluate_model
from training.graded import decide, regrade
from training.synth.frames import generate_frames
from vision.detections import Detections
from vision.grader import Grader
from vision.model_card import ModelCardDraft
from vision.registry import DEFAULT_MODEL_DIR
from vision.taxonomy import Taxonomy


def _scene(tmp_path: Path) -> tuple[Path, Detections]:
    image = np.full((200, 300, 3), 90, np.uint8)
    cv2.circle(image, (60, 100), 40, (30, 30, 220), -1)  # red: a fresh apple to the grader
    cv2.circle(image, (200, 100), 40, (20, 25, 30), -1)  # dark: rotten
    path = tmp_path / "scene.jpg"
    cv2.imwrite(str(path), image)
    taxonomy = Taxonomy.load()
    scores = np.zeros((3, taxonomy.num_classes), np.float32)
    scores[:, taxonomy.class_id("apple", "fresh")] = [0.9, 0.8, 0.1]
    dets = Detections(
        xyxy=np.array([[20, 60, 100, 140], [160, 60, 240, 140], [0, 0, 10, 10]], np.float32),
        confidence=np.array([0.9, 0.8, 0.1], np.float32),
        class_id=np.full(3, taxonomy.class_id("apple", "fresh"), np.int64),
        freshness=np.ones(3, np.float32),
        data={"class_scores": scores},
    )
    return path, dets


def test_regrade_takes_condition_and_freshness_from_the_grader(tmp_path: Path) -> None:
    taxonomy = Taxonomy.load()
    path, dets = _scene(tmp_path)
    onnx = colour_grader_onnx(tmp_path / "grader.onnx")
    grader = Grader(onnx, colour_grader_spec(onnx), taxonomy=taxonomy)
    (out,) = regrade([dets], [str(path)], taxonomy, grader, conf=0.25)
    assert len(out) == 2  # the box under conf is never graded (the edge does not track it)
    assert [taxonomy.class_names[c] for c in out.class_id] == ["apple_fresh", "apple_rotten"]
    assert out.freshness[0] > 0.8 > out.freshness[1]
    # Without a grader the detector's own reading stands.
    plain = decide(cv2.imread(str(path)), dets, taxonomy, None)
    assert [d.condition for d in plain] == ["fresh"] * 3 and all(d.freshness == 1.0 for d in plain)


def test_eval_reports_graded_figures_beside_the_detectors(tmp_path: Path) -> None:
    taxonomy = Taxonomy.load()
    generate_frames(tmp_path / "frames", 6, seed=3, taxonomy=taxonomy, val_share=0.0, test_share=0.0)
    onnx = colour_grader_onnx(tmp_path / "grader.onnx")
    grader = Grader(onnx, colour_grader_spec(onnx), taxonomy=taxonomy)
    model = DEFAULT_MODEL_DIR / "model.onnx"
    plain = evaluate_model(tmp_path / "frames", model_path=model, taxonomy=taxonomy, split="train").to_dict()
    graded = evaluate_model(tmp_path / "frames", model_path=model, taxonomy=taxonomy, split="train",
                            grader=grader).to_dict()
    assert plain["graded"] is None
    assert graded["graded"]["grader"]["sha256"] == grader.spec.sha256
    assert graded["map50"] == plain["map50"]  # mAP stays the detector's own
    # The colour grader knows no orange: oranges keep the detector's condition, so their produce figures agree.
    assert graded["graded"]["produce"]["orange"]["ground_truth"] == plain["produce"]["orange"]["ground_truth"]
    assert graded["graded"]["conditions"] != plain["conditions"]


def test_cli_eval_grades_with_the_section_of_the_card_beside_the_model_when_it_names_the_grader(
    tmp_path: Path,
) -> None:
    """`qc eval --model M --grader G`: where the card beside M names G (its sha256), the card's section holds (here
    four turns, produce weight 0.5), as the version would serve it; a grader the card does not name is read from its
    own file (one turn, weight 1)."""
    taxonomy = Taxonomy.load()
    generate_frames(tmp_path / "frames", 4, seed=3, taxonomy=taxonomy, val_share=0.0, test_share=0.0)
    version = tmp_path / "version"
    version.mkdir()
    model = shutil.copy(DEFAULT_MODEL_DIR / "model.onnx", version / "model.onnx")
    grader = colour_grader_onnx(version / "grader.onnx")
    spec = colour_grader_spec(grader, produce_weight=0.5).model_copy(update={"turns": 4})
    ModelCardDraft(classes=list(taxonomy.class_names), taxonomy=taxonomy.to_dict(), input_size=(320, 320),
                   grader=spec).save(version / "card.json")
    other = colour_grader_onnx(tmp_path / "other.onnx", bias=np.array([1.0, 10.0, 0.0, 8.0]))
    qc = Path(sys.executable).with_name("qc")
    env = {**os.environ, "YOLO_OFFLINE": "1", "QC_REGISTRY": str(tmp_path / "registry")}

    def graded_by(path: Path) -> dict:
        r = subprocess.run([str(qc), "eval", "--data", str(tmp_path / "frames"), "--model", str(model), "--grader",
                            str(path), "--json"], env=env, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)["graded"]["grader"]

    named = graded_by(grader)
    assert (named["turns"], named["produce_weight"]) == (4, 0.5)
    unnamed = graded_by(other)
    assert (unnamed["turns"], unnamed["produce_weight"]) == (1, 1.0)
