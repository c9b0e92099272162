"""Synthetic conveyor data: deterministic, exactly labelled, loadable, and honest about its own truth."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from training.synth.clip import generate_clip
from training.synth.frames import generate_frames, render_frame, split_of
from training.synth.items import sample_item
from training.synth.produce import render_item
from training.yolo_dataset import list_samples, load_dataset
from vision.taxonomy import Taxonomy


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_frames_are_deterministic_per_seed_and_index(tmp_path: Path, taxonomy: Taxonomy) -> None:
    generate_frames(tmp_path / "a", 6, seed=11, taxonomy=taxonomy)
    generate_frames(tmp_path / "b", 6, seed=11, taxonomy=taxonomy)
    generate_frames(tmp_path / "c", 6, seed=12, taxonomy=taxonomy)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")
    # Frame i does not depend on how many frames are generated.
    img3, labels3 = render_frame(3, 11, 640, 360, taxonomy, 0.15)
    assert img3.shape == (360, 640, 3) and img3.dtype == np.uint8
    assert labels3 == render_frame(3, 11, 640, 360, taxonomy, 0.15)[1]


def test_frames_dataset_is_valid_and_labels_lie_on_the_items(tmp_path: Path, taxonomy: Taxonomy) -> None:
    report = generate_frames(tmp_path, 30, seed=3, taxonomy=taxonomy, width=480, height=270)
    assert sum(report.images.values()) == 30
    ds = load_dataset(tmp_path)
    assert ds.names == taxonomy.class_names
    samples = list_samples(ds, "all")
    assert len(samples) == 30
    boxes = np.concatenate([s.truth.xyxy for s in samples])
    assert len(boxes) > 60
    assert (boxes[:, 0] >= 0).all() and (boxes[:, 2] <= 480).all() and (boxes[:, 3] <= 270).all()
    assert ((boxes[:, 2] - boxes[:, 0]) >= 5).all() and ((boxes[:, 3] - boxes[:, 1]) >= 5).all()
    # A labelled box must contain the item, not belt: its pixels are more saturated than the belt's.
    sat_in, sat_all = [], []
    for s in samples[:10]:
        hsv = cv2.cvtColor(cv2.imread(str(s.image_path)), cv2.COLOR_BGR2HSV)
        sat_all.append(hsv[..., 1].mean())
        for x0, y0, x1, y1 in s.truth.xyxy.astype(int):
            sat_in.append(hsv[y0:y1, x0:x1, 1].mean())
    assert np.mean(sat_in) > 1.5 * np.mean(sat_all)


def test_spoiled_share_is_respected(taxonomy: Taxonomy) -> None:
    rng = np.random.default_rng(0)
    for share in (0.0, 0.15, 0.6):
        items = [sample_item(taxonomy, 1000.0, share, rng) for _ in range(2000)]
        spoiled = np.mean([i.condition != "fresh" for i in items])
        assert abs(spoiled - share) < 0.03


def test_produce_and_spoiled_mixes_weight_the_draw(taxonomy: Taxonomy) -> None:
    rng = np.random.default_rng(1)
    items = [sample_item(taxonomy, 1000.0, 1.0, rng, {"rotten": 3, "bruised": 1}, {"apple": 3, "tomato": 1})
             for _ in range(4000)]
    produce = [i.produce for i in items]
    assert abs(produce.count("apple") / len(items) - 0.75) < 0.03
    assert set(produce) == {"apple", "tomato"}  # unnamed kinds get weight 0
    conditions = [i.condition for i in items]
    assert abs(conditions.count("rotten") / len(items) - 0.75) < 0.03
    assert "overripe" not in conditions


def test_no_produce_mix_renders_the_same_frames_as_before(taxonomy: Taxonomy) -> None:
    """Data sets rendered before --produce-mix existed (the shipped model's) must come out byte for byte again."""
    a, _ = render_frame(5, 3, 320, 180, taxonomy, 0.5, {"rotten": 3, "bruised": 1.5, "overripe": 1})
    b, _ = render_frame(5, 3, 320, 180, taxonomy, 0.5, {"rotten": 3, "bruised": 1.5, "overripe": 1}, None)
    c, _ = render_frame(5, 3, 320, 180, taxonomy, 0.5, {"rotten": 3, "bruised": 1.5, "overripe": 1}, {"apple": 1})
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize(
    ("mix", "message"),
    [({"kiwi": 1}, "produce mix names ['kiwi']"), ({"apple": -1, "tomato": 1}, "produce mix weights must be >= 0"),
     ({"apple": 0}, "positive sum")],
)
def test_bad_produce_mix_is_named(taxonomy: Taxonomy, mix: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        sample_item(taxonomy, 1000.0, 0.1, np.random.default_rng(0), None, mix)


@pytest.mark.parametrize("condition", ["bruised", "overripe", "rotten"])
@pytest.mark.parametrize("kind", ["apple", "banana", "orange", "tomato"])
def test_every_condition_shows_a_cue_at_its_mildest(kind: str, condition: str) -> None:
    """Same seed, same item: the spoiled one has a patch at least 20 % darker covering >= 4 % of it
    (a bruise at severity 0 on an apple is the weakest cue, about 5 %), and nothing got brighter."""

    def value(s):
        return cv2.cvtColor(np.clip(s.bgr, 0, 255).astype(np.uint8), cv2.COLOR_BGR2HSV)[..., 2].astype(np.float32)

    fresh = render_item(kind, "fresh", 0.0, 70, np.random.default_rng(5))
    spoiled = render_item(kind, condition, 0.0, 70, np.random.default_rng(5))
    both = (fresh.alpha > 0.9) & (spoiled.alpha > 0.9)
    darker = ((value(spoiled) < 0.8 * value(fresh)) & both).sum() / both.sum()
    brighter = ((value(fresh) < 0.8 * value(spoiled)) & both).sum() / both.sum()
    assert darker >= 0.04
    assert darker > 2 * brighter


def test_split_assignment_is_stable() -> None:
    splits = [split_of(i, 0.1, 0.1) for i in range(2000)]
    assert abs(splits.count("test") / 2000 - 0.1) < 0.03 and abs(splits.count("val") / 2000 - 0.1) < 0.03
    assert split_of(17, 0.1, 0.1) == splits[17]


def test_clip_truth_matches_the_video_and_the_belt_motion(tmp_path: Path, taxonomy: Taxonomy) -> None:
    truth = generate_clip(tmp_path, seconds=2.0, fps=10, seed=4, taxonomy=taxonomy, speed=1.0, density=4.0)
    cap = cv2.VideoCapture(str(tmp_path / "clip.mp4"))
    n = 0
    while cap.read()[0]:
        n += 1
    assert n == truth["frames"] == 20
    assert json.loads((tmp_path / "truth.json").read_text()) == truth
    step = truth["speed_m_per_s"] * truth["px_per_m"] / truth["fps"]  # 100 px per frame
    assert truth["items"], "a 2 s clip at 4 items/m must show items"
    for item in truth["items"]:
        assert item["frames"] == sorted(item["frames"])
        assert item["class_id"] == taxonomy.class_id(item["produce"], item["condition"])
        centres = [(b[0] + b[2]) / 2 for b in item["boxes"]]
        for (f0, c0), (f1, c1) in zip(zip(item["frames"], centres), zip(item["frames"][1:], centres[1:])):
            if 0.2 * 640 < c0 < 0.8 * 640 and 0.2 * 640 < c1 < 0.8 * 640:  # fully in view: moves at belt speed
                assert abs((c1 - c0) - step * (f1 - f0)) < 0.15 * step * (f1 - f0)


def _qc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vision.cli", *args], capture_output=True, text=True)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["synth", "frames", "--out", "{tmp}", "--count", "0"], "--count"),
        (["synth", "frames", "--out", "{tmp}", "--imgsz", "10", "10"], "--imgsz"),
        (["synth", "frames", "--out", "{tmp}", "--val", "0.6", "--test", "0.5"], "val + test"),
        (["synth", "frames", "--out", "{tmp}", "--produce-mix", "apple=2,kiwi=1"], "--produce-mix"),
        (["synth", "frames", "--out", "{tmp}", "--produce-mix", "apple"], "--produce-mix"),
        (["synth", "frames", "--out", "{tmp}", "--spoiled-mix", "mouldy=1"], "--spoiled-mix"),
        (["synth", "clip", "--out", "{tmp}", "--speed", "0"], "--speed"),
        (["synth", "clip", "--out", "{tmp}", "--fps", "0.5"], "--fps"),
        (["synth", "clip"], "--out"),
    ],
)
def test_synth_cli_rejects_bad_options(tmp_path: Path, args: list[str], message: str) -> None:
    done = _qc(*[a.replace("{tmp}", str(tmp_path / "o")) for a in args])
    assert done.returncode == 2
    assert message in done.stderr


def test_synth_cli_writes_frames_and_a_manifest(tmp_path: Path) -> None:
    done = _qc("synth", "frames", "--out", str(tmp_path), "--count", "4", "--seed", "9")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert sum(summary["images"].values()) == 4
    assert json.loads((tmp_path / "manifest.json").read_text())["content_hash"] == summary["hash"]
