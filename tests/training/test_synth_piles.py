"""`qc synth piles`: photo-like scenes of real cut-outs with exact boxes (copy-paste augmentation)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from training.synth.piles import BUNCH_RADIUS_RATIO, LAYOUTS, pile_sprites, render_pile, thickness
from training.synth.real_sprites import RealSprites
from vision.taxonomy import Taxonomy


def _cutout(path: Path, draw: str, colour: tuple[int, int, int]) -> None:
    """A cut-out PNG (BGRA) of one shape: a disc (an orange), a thin crescent (one banana) or a thick blob (a bunch)."""
    alpha = np.zeros((200, 200), np.uint8)
    if draw == "disc":
        cv2.circle(alpha, (100, 100), 80, 255, -1)
    elif draw == "crescent":
        cv2.ellipse(alpha, (100, 100), (90, 60), 0, 200, 340, 255, 22)
    else:
        cv2.ellipse(alpha, (100, 100), (90, 70), 0, 0, 360, 255, -1)
    bgr = np.zeros((200, 200, 3), np.uint8)
    bgr[:] = colour
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.dstack([bgr, alpha]))


@pytest.fixture
def cutouts(tmp_path: Path) -> Path:
    root = tmp_path / "cutouts"
    _cutout(root / "orange_fresh" / "a.png", "disc", (0, 140, 255))
    _cutout(root / "orange_rotten" / "b.png", "disc", (20, 60, 90))
    _cutout(root / "banana_fresh" / "one.png", "crescent", (0, 220, 240))
    _cutout(root / "banana_fresh" / "bunch.png", "blob", (0, 200, 230))
    return root


def test_thickness_tells_one_banana_from_a_bunch(cutouts: Path) -> None:
    def alpha(name: str) -> np.ndarray:
        return cv2.imread(str(cutouts / name), cv2.IMREAD_UNCHANGED)[..., 3].astype(np.float32) / 255
    assert thickness(alpha("orange_fresh/a.png")) > 0.95
    assert thickness(alpha("banana_fresh/one.png")) < BUNCH_RADIUS_RATIO < thickness(alpha("banana_fresh/bunch.png"))
    kept = pile_sprites(RealSprites.load(cutouts))
    assert len(kept.cutouts["banana_fresh"]) == 1 and len(kept.cutouts["orange_fresh"]) == 1
    assert thickness(kept.cutouts["banana_fresh"][0].alpha) < BUNCH_RADIUS_RATIO


def test_scenes_are_deterministic_with_boxes_in_the_image_of_the_cutouts_classes(cutouts: Path) -> None:
    taxonomy = Taxonomy.load()
    sprites = pile_sprites(RealSprites.load(cutouts))
    layouts, most_boxes, overlapping = set(), 0, 0
    for index in range(40):
        scene = render_pile(index, 5, 320, 240, taxonomy, sprites)
        again = render_pile(index, 5, 320, 240, taxonomy, sprites)
        assert np.array_equal(scene.image, again.image) and scene.labels == again.labels
        assert scene.image.shape == (240, 320, 3)
        layouts.add(scene.layout)
        most_boxes = max(most_boxes, len(scene.labels))
        for cls, (x0, y0, x1, y1) in scene.labels:
            assert 0 <= x0 < x1 <= 320 and 0 <= y0 < y1 <= 240
            assert taxonomy.class_names[cls] in sprites.cutouts
        boxes = [b for _, b in scene.labels]
        overlapping += any(min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])
                           for i, a in enumerate(boxes) for b in boxes[i + 1:])
    assert layouts == set(LAYOUTS)
    assert most_boxes >= 4 and overlapping >= 3  # piles: several fruit, touching and overlapping
    assert not np.array_equal(render_pile(0, 5, 320, 240, taxonomy, sprites).image,
                              render_pile(0, 6, 320, 240, taxonomy, sprites).image)


def _qc(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    qc = Path(sys.executable).with_name("qc")
    return subprocess.run([str(qc), *args], cwd=cwd, env={**os.environ, "YOLO_OFFLINE": "1"}, capture_output=True,
                          text=True, timeout=300)


def test_cli_writes_a_data_set_and_names_bad_folders(cutouts: Path, tmp_path: Path) -> None:
    out = tmp_path / "piles"
    r = _qc("synth", "piles", "--out", str(out), "--real-cutouts", str(cutouts), "--count", "12", "--seed", "3",
            "--imgsz", "256", "192", "--val", "0.25", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["images"]["train"] + report["images"]["val"] == 12 and report["images"]["val"] > 0
    labels = list((out / "labels").rglob("*.txt"))
    assert len(labels) == 12
    boxes = sum(len(p.read_text().split("\n")) - 1 for p in labels)
    assert boxes == sum(report["instances"].values()) > 0
    assert yaml.safe_load((out / "data.yaml").read_text())["train"] == "images/train"
    assert (out / "manifest.json").is_file()

    r = _qc("synth", "piles", "--out", str(tmp_path / "x"), "--real-cutouts", str(tmp_path / "nowhere"), cwd=tmp_path)
    assert r.returncode == 2 and "--real-cutouts" in r.stderr and "not found" in r.stderr
    _cutout(cutouts / "kiwi_fresh" / "k.png", "disc", (40, 120, 60))
    r = _qc("synth", "piles", "--out", str(tmp_path / "y"), "--real-cutouts", str(cutouts), cwd=tmp_path)
    assert r.returncode == 2 and "kiwi_fresh" in r.stderr
