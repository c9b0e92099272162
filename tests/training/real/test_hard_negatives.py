"""Real photos with no produce: the boxes a detector finds on the clutter photos as the grader's hard negatives
(`qc dataset grader-crops --hard-negatives`), and judging the system on a folder of one's own such photos
(`qc eval-photos --clutter-dir`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from training.real.grader_data import HARD_NEGATIVE_VIEWS, MIN_BOX_PX, grader_crops
from training.real.quarter_turns import QUARTER_TURNS
from training.real.sources import clutter_photos
from vision.decode import DecodeOptions
from vision.detector import Detector
from vision.taxonomy import Taxonomy

REPO = Path(__file__).resolve().parents[3]
SHIPPED = REPO / "vision" / "default_model" / "model.onnx"
SOURCE = "detector boxes on real clutter photos"


def _empty_frames(tmp_path: Path) -> Path:
    """A detection data set with no frames: this test is about the clutter photos alone."""
    for split in ("train", "val"):
        (tmp_path / "frames" / "images" / split).mkdir(parents=True, exist_ok=True)
    return tmp_path / "frames"


def test_each_found_box_in_each_orientation_becomes_views_of_not_produce(fixture_root: Path, tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []

    def one_box_and_one_too_small(image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        seen.append((h, w))
        return np.array([[w * 0.2, h * 0.2, w * 0.6, h * 0.7], [0, 0, MIN_BOX_PX - 1, 40]], np.float32)

    report = grader_crops(fixture_root, [], tmp_path / "crops", Taxonomy.load(), size=48,
                          hard_negatives=one_box_and_one_too_small)
    clutter = [p for p in clutter_photos() if p.split == "train"]
    assert len(seen) == len(QUARTER_TURNS) * len(clutter)
    # a photo and its quarter turn are both looked at: a camera overhead sees clutter at any angle
    assert {(h, w) for h, w in seen[:2]} == {seen[0], seen[0][::-1]}
    assert report.per_source[SOURCE] == HARD_NEGATIVE_VIEWS * len(QUARTER_TURNS) * len(clutter)
    written = sorted((tmp_path / "crops").glob("*/not_produce/hard_*"))
    assert len(written) == report.per_source[SOURCE]
    assert cv2.imread(str(written[0])).shape == (48, 48, 3)
    plain = grader_crops(fixture_root, [], tmp_path / "plain", Taxonomy.load(), size=48)
    assert SOURCE not in plain.per_source  # off unless asked for
    # every other crop is byte for byte the same with or without them, so a comparison changes one thing
    others = sorted(str(f.relative_to(tmp_path / "plain")) for f in (tmp_path / "plain").rglob("*.jpg"))
    assert others == sorted(str(f.relative_to(tmp_path / "crops")) for f in (tmp_path / "crops").rglob("*.jpg")
                            if not f.name.startswith("hard_"))
    assert [f for f in others if (tmp_path / "plain" / f).read_bytes() != (tmp_path / "crops" / f).read_bytes()] == []


@pytest.mark.slow
def test_cli_mines_the_boxes_the_shipped_detector_finds(fixture_root: Path, tmp_path: Path) -> None:
    qc = Path(sys.executable).with_name("qc")
    env = {**os.environ, "YOLO_OFFLINE": "1"}
    out = tmp_path / "crops"
    r = subprocess.run([str(qc), "dataset", "grader-crops", str(fixture_root), "--out", str(out), "--frames",
                        str(_empty_frames(tmp_path)), "--size", "48", "--hard-negatives",
                        str(SHIPPED)], capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    detector = Detector(SHIPPED, Taxonomy.load(), decoding=DecodeOptions(conf_threshold=0.1))
    expected = 0
    for p in (p for p in clutter_photos() if p.split == "train"):
        image = cv2.imread(str(p.path), cv2.IMREAD_COLOR)
        for rotation in QUARTER_TURNS:
            turned = image if rotation is None else cv2.rotate(image, rotation)
            boxes = detector.detect([turned])[0].xyxy
            expected += int((np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) >= MIN_BOX_PX).sum())
    assert expected > 0  # the shipped detector does box things on clutter: that is why the veto exists
    assert json.loads(r.stdout)["per_source"][SOURCE] == HARD_NEGATIVE_VIEWS * expected
    missing = subprocess.run([str(qc), "dataset", "grader-crops", str(fixture_root), "--out", str(tmp_path / "x"),
                              "--frames", str(_empty_frames(tmp_path)), "--hard-negatives",
                              str(tmp_path / "none.onnx")], capture_output=True, text=True, env=env, timeout=600)
    assert missing.returncode == 2 and "--hard-negatives" in missing.stderr and "not found" in missing.stderr


@pytest.mark.slow
def test_eval_photos_judges_a_folder_of_your_own_clutter_in_four_orientations(fixture_root: Path,
                                                                               tmp_path: Path) -> None:
    """`qc eval-photos --clutter-dir`: what the shipped system keeps on photos with no produce it never trained on."""
    qc = Path(sys.executable).with_name("qc")
    env = {**os.environ, "YOLO_OFFLINE": "1"}
    own = tmp_path / "own"
    own.mkdir()
    photos = [p for p in clutter_photos() if p.path.name in ("astronaut.png", "motorcycle_left.png")]
    for p in photos:
        (own / p.path.name).write_bytes(p.path.read_bytes())
    (own / "notes.txt").write_text("not a photo")  # only photos are read
    r = subprocess.run([str(qc), "eval-photos", str(fixture_root), "--model", str(SHIPPED), "--json",
                        "--clutter-dir", str(own)], capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    table = json.loads(r.stdout)["clutter_dir"]
    detector = Detector(SHIPPED, Taxonomy.load())
    expected = sum(len(detector.detect([image if t is None else cv2.rotate(image, t)])[0].xyxy)
                   for p in photos for image in [cv2.imread(str(p.path))] for t in QUARTER_TURNS)
    assert expected > 0  # these two are photos where the shipped detector boxes something
    assert table["photos"] == 2 and table["views"] == 8
    assert table["boxes"] + table["vetoed"] == expected  # no grader given: nothing vetoed, every box counts
    assert table["vetoed"] == 0 and sum(table["per_photo"].values()) == table["boxes"]
    (tmp_path / "empty").mkdir()
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "cut-short.jpg").write_bytes(b"\xff\xd8\xff\xe0 not the rest of a JPEG")
    for bad, why in ((tmp_path / "missing", "is not a folder"), (tmp_path / "empty", "holds no photo"),
                     (tmp_path / "broken", "is not an image OpenCV can read")):
        e = subprocess.run([str(qc), "eval-photos", str(fixture_root), "--clutter-dir", str(bad)],
                           capture_output=True, text=True, env=env, timeout=600)
        assert e.returncode == 2 and "--clutter-dir" in e.stderr and why in e.stderr
