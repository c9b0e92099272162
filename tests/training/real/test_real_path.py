"""The real-data path end to end on real photos: split and cut out, composite on the belt, crop for the grader,
mix, and evaluate as the edge decides."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.training.real.dev_photo import add_dev_photo
from training.real.assemble import real_prep
from training.real.cutout import cut_out
from training.real.sources import single_fruit_photos
from training.real.split import Fold, content_key, fold_of_key, is_dev_key
from training.synth.frames import RealAppearance, render_frame
from training.synth.real_sprites import RealSprites
from vision.errors import InputError
from vision.model_card import ModelCard
from vision.registry import CARD_NAME, DEFAULT_MODEL_DIR, GRADER_NAME, ONNX_NAME
from vision.taxonomy import Taxonomy

pytestmark = pytest.mark.slow  # real-prep, synth and eval-photos through the CLI on real photos


def _qc(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    qc = Path(sys.executable).with_name("qc")
    env = {**os.environ, "YOLO_OFFLINE": "1"}
    return subprocess.run([str(qc), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture
def prepped(fixture_root: Path, tmp_path: Path) -> Path:
    out = tmp_path / "prep"
    real_prep(fixture_root, out, Taxonomy.load())
    return out


def test_real_prep_writes_split_cutouts_and_a_labelled_photo_set(prepped: Path) -> None:
    split = json.loads((prepped / "split.json").read_text())["photos"]
    singles = [e for e in split if e["collection"] == "fresh-rotten"]
    assert len(singles) == 5 and all(e["split"] == "train" for e in singles)  # the fixtures are training photos
    cutouts = sorted((prepped / "cutouts" / "train").rglob("*.png"))
    assert len(cutouts) == sum(e["cutout"] for e in singles) >= 4
    assert {p.parent.name for p in cutouts} <= {"apple_fresh", "banana_fresh", "orange_fresh"}
    # Every image of the photo set has its label where ultralytics looks for it, and the boxes are in range.
    images = sorted((prepped / "photos" / "images" / "train").iterdir())
    assert len(images) == 5 - (5 - len(cutouts)) + 6 + 16  # singles with a cut-out, boxed photos, clutter
    for img in images:
        label = prepped / "photos" / "labels" / "train" / f"{img.stem}.txt"
        rows = [r.split() for r in label.read_text().split("\n") if r]
        if img.name.startswith("clutter_"):
            assert rows == []
        else:
            assert rows and all(0.0 <= float(v) <= 1.0 for r in rows for v in r[1:])
    taxonomy = Taxonomy.load()
    banana = next((prepped / "photos" / "labels" / "train").glob("boxed_train_banana_34_*.txt")).read_text().split()
    assert taxonomy.class_names[int(banana[0])] == "banana_fresh"  # boxed web photos are fresh produce


def test_real_prep_can_hold_the_development_photos_out_of_train(fixture_root: Path, tmp_path: Path) -> None:
    dev_photo = add_dev_photo(fixture_root)
    plain = tmp_path / "plain"
    progress: list[tuple[int, int]] = []
    real_prep(fixture_root, plain, Taxonomy.load(), on_photo=lambda done, total: progress.append((done, total)))
    photos = len(json.loads((plain / "split.json").read_text())["photos"])
    assert progress == [(i, photos) for i in range(1, photos + 1)]  # one step per photo, every collection
    held = tmp_path / "held"
    r = _qc("dataset", "real-prep", str(fixture_root), "--out", str(held), "--hold-out-dev", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["photos"]["fresh-rotten"] == {"train": 5, "val": 0, "dev": 1}
    stem = f"single_apple_fresh_{content_key(dev_photo)[:16]}"
    # By default the development photo is a training photo (as v0006's detector saw it); held out, it is only in dev.
    assert (plain / "photos" / "labels" / "train" / f"{stem}.txt").is_file()
    assert not list((held / "photos" / "labels" / "train").glob(f"{stem}*"))
    assert (held / "photos" / "labels" / "dev" / f"{stem}.txt").read_text().strip()
    assert (held / "cutouts" / "dev" / "apple_fresh" / f"{content_key(dev_photo)[:16]}.png").is_file()
    assert not (held / "cutouts" / "train" / "apple_fresh" / f"{content_key(dev_photo)[:16]}.png").exists()
    entry = next(e for e in json.loads((held / "split.json").read_text())["photos"] if e["file"].endswith("dev_apple.jpg"))
    assert entry["split"] == "dev"
    # Everything else is where it was.
    def names(root: Path, split: str) -> set[str]:
        return {p.name for p in (root / "photos" / "images" / split).iterdir()}
    assert names(held, "train") == names(plain, "train") - names(held, "dev")


def test_real_cutouts_on_the_belt_get_exact_boxes(prepped: Path) -> None:
    taxonomy = Taxonomy.load()
    sprites = RealSprites.load(prepped / "cutouts" / "train")
    real = RealAppearance(sprites, item_share=1.0)
    real_boxes = 0
    for index in range(12):
        image, labels = render_frame(index, 11, 640, 360, taxonomy, 0.0, real=real)
        again, labels_again = render_frame(index, 11, 640, 360, taxonomy, 0.0, real=real)
        assert np.array_equal(image, again) and labels == labels_again  # deterministic per seed and index
        for cls, (x0, y0, x1, y1) in labels:
            assert 0 <= x0 < x1 <= 640 and 0 <= y0 < y1 <= 360
            real_boxes += taxonomy.class_names[cls] in sprites.cutouts
    assert real_boxes > 10
    # Without real appearance the frame is the renderer's as before: the real stream never touches its draws.
    plain, _ = render_frame(3, 11, 640, 360, taxonomy, 0.0)
    assert not np.array_equal(plain, render_frame(3, 11, 640, 360, taxonomy, 0.0, real=real)[0])
    assert np.array_equal(plain, render_frame(3, 11, 640, 360, taxonomy, 0.0)[0])


def test_real_sprites_refuse_bad_folders(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        RealSprites.load(tmp_path / "missing")
    (tmp_path / "apple_fresh").mkdir()
    cv2.imwrite(str(tmp_path / "apple_fresh" / "x.png"), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(InputError, match="alpha"):
        RealSprites.load(tmp_path)


def test_cli_synth_clip_with_real_cutouts_and_a_clutter_only_clip(prepped: Path, tmp_path: Path) -> None:
    r = _qc("synth", "clip", "--out", str(tmp_path / "clip"), "--seconds", "2", "--fps", "10", "--seed", "3",
            "--real-cutouts", str(prepped / "cutouts" / "train"), "--clutter", str(prepped / "clutter" / "train"),
            cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    truth = json.loads((tmp_path / "clip" / "truth.json").read_text())
    assert out["real_items"] == sum(i["appearance"] == "real" for i in truth["items"]) > 0
    r = _qc("synth", "clip", "--out", str(tmp_path / "empty"), "--seconds", "2", "--fps", "10", "--seed", "3",
            "--clutter", str(prepped / "clutter" / "train"), "--clutter-rate", "4", "--no-produce", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "empty" / "truth.json").read_text())["items"] == []
    r = _qc("synth", "frames", "--out", str(tmp_path / "f"), "--count", "2", "--real-cutouts", str(tmp_path / "no"),
            cwd=tmp_path)
    assert r.returncode == 2 and "--real-cutouts" in r.stderr and "not found" in r.stderr
    # Photo-like piles of the same real cut-outs: every box is of a class that has cut-outs.
    r = _qc("synth", "piles", "--out", str(tmp_path / "piles"), "--real-cutouts", str(prepped / "cutouts" / "train"),
            "--clutter", str(prepped / "clutter" / "train"), "--count", "6", "--imgsz", "320", "240", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    kinds = {p.parent.name for p in (prepped / "cutouts" / "train").rglob("*.png")}
    assert set(json.loads(r.stdout)["instances"]) <= kinds and sum(json.loads(r.stdout)["instances"].values()) > 0


def test_cli_grader_crops_and_mix(prepped: Path, fixture_root: Path, tmp_path: Path) -> None:
    frames = tmp_path / "frames"
    r = _qc("synth", "frames", "--out", str(frames), "--count", "12", "--seed", "5", "--val", "0.3", "--test", "0",
            "--real-cutouts", str(prepped / "cutouts" / "train"), "--clutter", str(prepped / "clutter" / "train"),
            cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    crops = tmp_path / "crops"
    add_dev_photo(fixture_root)
    r = _qc("dataset", "grader-crops", str(fixture_root), "--out", str(crops), "--frames", str(frames),
            "--size", "64", "--painted-rot", "2", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    singles = [p for p in single_fruit_photos(fixture_root, Taxonomy.load()) if p.split == "train"]
    dev = [p for p in singles if is_dev_key(p.key)]
    assert len(dev) == 1 and len(singles) == 6
    # Painted rot: two rotten crops per fresh training photo (never a development one) whose mask passed its check.
    paintable = [p for p in singles if p not in dev and p.condition == "fresh"
                 and cut_out(cv2.imread(str(p.path)), elongated=p.produce == "banana").ok]
    assert paintable and report["per_source"]["real fresh photos with painted rot"] == 2 * len(paintable)
    for p in paintable:
        assert (crops / "train" / f"{p.produce}_rotten" / f"painted_{p.key[:16]}_v1.jpg").is_file()
    assert not list((crops / "val").glob("*/painted_*.jpg"))
    assert report["held_out"] == "dev"
    # A fold in place of the development fifth: exactly that fold's single-fruit photos go to val/.
    fold = Fold(fold_of_key(next(p for p in singles if p not in dev).key, 5) or 0, 5)
    in_fold = [p for p in singles if fold.holds(p.key)]
    assert in_fold and fold.index != 0
    by_fold = tmp_path / "crops_fold"
    r = _qc("dataset", "grader-crops", str(fixture_root), "--out", str(by_fold), "--frames", str(frames),
            "--size", "64", "--hold-out-fold", str(fold), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["held_out"] == f"fold:{fold}"
    for p in singles:
        assert (by_fold / "val" / p.class_name / f"single_{p.key[:16]}_r0.jpg").is_file() == (p in in_fold)
    r = _qc("dataset", "grader-crops", str(fixture_root), "--out", str(tmp_path / "crops_bad"), "--frames",
            str(frames), "--hold-out-fold", "5/5", cwd=tmp_path)
    assert r.returncode == 2 and "--hold-out-fold" in r.stderr and "I/K" in r.stderr
    # Four orientations of each single fruit; two views each (mask box, jittered box) in train, one in val (dev).
    assert report["per_source"]["real single-fruit photos"] == 4 * (2 * (len(singles) - len(dev)) + len(dev))
    for p in singles:
        held = (crops / "val" / p.class_name / f"single_{p.key[:16]}_r0.jpg").is_file()
        assert held == (p in dev)
        assert (crops / "train" / p.class_name / f"single_{p.key[:16]}_r0_v1.jpg").is_file() == (p not in dev)
    first = next((crops / "train" / "apple_fresh").glob("single_*.jpg"))
    assert cv2.imread(str(first)).shape == (64, 64, 3)
    assert {p.name for p in (crops / "train").iterdir()} == {p.name for p in (crops / "val").iterdir()}
    # The veto's class: squares of the clutter photos (scikit-image's), of the web photos' backgrounds and of the
    # belt away from every label, none overlapping a produce box.
    assert report["per_source"]["real clutter photos"] > 0 and report["per_source"]["belt backgrounds frames"] > 0
    # (the clutter photos of the development fifth are in val/, as every real dev photo is)
    squares = report["per_class"]["train"]["not_produce"] + report["per_class"]["val"]["not_produce"]
    assert squares >= report["per_source"]["real clutter photos"] > report["per_class"]["val"]["not_produce"] > 0
    r = _qc("dataset", "mix", str(frames), str(prepped / "photos"), "--val", str(frames), "--out", str(tmp_path / "mix"),
            cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    mixed = tmp_path / "mix"
    train = sorted(p.name for p in (mixed / "images" / "train").iterdir())
    photos = sorted((prepped / "photos" / "images" / "train").iterdir())
    assert len(train) == len(list((frames / "images" / "train").iterdir())) + len(photos)
    assert f"photos__{photos[0].name}" in train
    for name in train:  # every label where ultralytics looks for it, byte for byte the part's
        assert (mixed / "labels" / "train" / f"{Path(name).stem}.txt").is_file()
    assert json.loads(r.stdout)["hash"] == json.loads((mixed / "manifest.json").read_text())["content_hash"]
    r = _qc("dataset", "mix", str(frames), "--val", str(frames), "--out", str(mixed), cwd=tmp_path)
    assert r.returncode == 2 and "exists" in r.stderr


def test_cli_eval_photos_on_real_photos_with_the_shipped_version(fixture_root: Path, tmp_path: Path) -> None:
    env_root = tmp_path / "registry"
    qc = Path(sys.executable).with_name("qc")
    env = {**os.environ, "YOLO_OFFLINE": "1", "QC_REGISTRY": str(env_root)}
    r = subprocess.run([str(qc), "eval-photos", str(fixture_root), "--split", "train", "--json"], cwd=tmp_path,
                       env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    singles = report["single_fruit"]["overall"]
    assert singles["photos"] == 5
    for key in ("box", "right_produce", "fresh_flagged"):
        assert 0.0 <= singles[key] <= 1.0
    assert report["boxed"]["overall"]["boxes"] == 6
    assert report["iou"] == 0.6
    assert "mistakes" not in report["single_fruit"]
    shipped = ModelCard.load(DEFAULT_MODEL_DIR / CARD_NAME)
    assert shipped.grader is not None and report["grader_turns"] == shipped.grader.turns
    # The same pair named by path: the card beside --model names this grader, so its turns and produce weight hold
    # and the figures are production's; the detector copied where no card lies reads the grader's own (one turn).
    pair = ["--model", str(DEFAULT_MODEL_DIR / ONNX_NAME), "--grader", str(DEFAULT_MODEL_DIR / GRADER_NAME)]
    r = subprocess.run([str(qc), "eval-photos", str(fixture_root), "--split", "train", "--json", *pair], cwd=tmp_path,
                       env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    named = json.loads(r.stdout)
    assert named["grader_turns"] == shipped.grader.turns
    assert (named["single_fruit"], named["boxed"]) == (report["single_fruit"], report["boxed"])
    (tmp_path / "bare").mkdir()
    bare = shutil.copy(DEFAULT_MODEL_DIR / ONNX_NAME, tmp_path / "bare" / ONNX_NAME)
    r = subprocess.run([str(qc), "eval-photos", str(fixture_root), "--split", "train", "--json", "--model", bare,
                        "--grader", str(DEFAULT_MODEL_DIR / GRADER_NAME)], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["grader_turns"] == 1
    # --mistakes lists exactly the photos the overall figures count as wrong (all five are fresh fruit). The detector
    # alone gets one of them wrong (the grader none), so the list is not empty.
    r = subprocess.run([str(qc), "eval-photos", str(fixture_root), "--split", "train", "--mistakes", "--no-grader",
                        "--json"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    alone = json.loads(r.stdout)["single_fruit"]
    listed, figures, n = alone["mistakes"], alone["overall"], alone["overall"]["photos"]
    assert listed
    for what, expected in (("no box", n - round(figures["box"] * n)),
                           ("wrong produce", round(figures["box"] * n) - round(figures["right_produce"] * n)),
                           ("fresh flagged", round(figures["fresh_flagged"] * n))):
        assert sum(what in m["mistakes"] for m in listed) == expected, what
    for m in listed:
        assert Path(m["photo"]).is_file() and m["truth"].endswith("_fresh")
        assert m["decided"] is None or ("wrong produce" in m["mistakes"]) == (not m["decided"].startswith(
            m["truth"].split("_")[0] + "_"))
    # Each photo's outcome, keyed by content, adds up to the overall figures, which carry their 95 % interval; qc
    # compare-photos pairs the detector alone with the system on the same photos.
    overall, outcomes = report["single_fruit"]["overall"], report["single_fruit"]["per_photo"]
    assert len(outcomes) == 5
    assert sum(o["right_produce"] for o in outcomes.values()) == round(overall["right_produce"] * 5)
    low, high = overall["interval95"]["right_produce"]
    assert low <= overall["right_produce"] <= high and high - low > 0.2  # five photos allow a wide range
    (tmp_path / "system.json").write_text(json.dumps(report))
    (tmp_path / "alone.json").write_text(json.dumps({"single_fruit": alone}))
    r = subprocess.run([str(qc), "compare-photos", str(tmp_path / "alone.json"), str(tmp_path / "system.json"),
                        "--json"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    paired = json.loads(r.stdout)["outcomes"]["right_produce"]
    assert paired["right_a"] == round(figures["right_produce"] * n) and paired["right_b"] == round(
        overall["right_produce"] * 5)
    assert paired["right_b"] - paired["right_a"] == paired["only_b"] - paired["only_a"]
    # --iou reaches NMS: at 1.0 no overlap exceeds it, so every anchor over the threshold stays a box.
    r = subprocess.run([str(qc), "eval-photos", str(fixture_root), "--split", "train", "--iou", "1", "--json"],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    unsuppressed = json.loads(r.stdout)
    assert unsuppressed["iou"] == 1.0
    assert unsuppressed["boxed"]["overall"]["detections"] > report["boxed"]["overall"]["detections"]
    r = subprocess.run([str(qc), "eval-photos", str(fixture_root), "--iou", "1.5"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "--iou" in r.stderr
    # The development fifth of train, by content: exactly the photos `is_dev_key` names.
    add_dev_photo(fixture_root)
    r = subprocess.run([str(qc), "eval-photos", str(fixture_root), "--split", "dev", "--json"], cwd=tmp_path,
                       env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    dev = [p for p in single_fruit_photos(fixture_root, Taxonomy.load()) if is_dev_key(p.key)]
    assert json.loads(r.stdout)["single_fruit"]["overall"]["photos"] == len(dev) == 1
    # fold:0/5 is the development fifth; another fold holds exactly its photos.
    r = subprocess.run([str(qc), "eval-photos", str(fixture_root), "--split", "fold:0/5", "--json"], cwd=tmp_path,
                       env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["single_fruit"]["overall"]["photos"] == len(dev)
    singles = single_fruit_photos(fixture_root, Taxonomy.load())
    fold = Fold(fold_of_key(next(p for p in singles if p.split == "train" and not is_dev_key(p.key)).key, 5) or 0, 5)
    r = subprocess.run([str(qc), "eval-photos", str(fixture_root), "--split", f"fold:{fold}", "--json"],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["single_fruit"]["overall"]["photos"] == sum(fold.holds(p.key) for p in singles) > 0
    for bad in ("holdout", "fold:7/5"):
        r = subprocess.run([str(qc), "eval-photos", str(fixture_root), "--split", bad], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 2 and "--split" in r.stderr and ("dev" in r.stderr or "I/K" in r.stderr)
    r = subprocess.run([str(qc), "eval-photos", str(tmp_path / "nowhere")], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "ROOT" in r.stderr


def test_zoomed_frames_show_larger_items_and_keep_the_default_bytes() -> None:
    taxonomy = Taxonomy.load()
    near = [render_frame(i, 21, 640, 360, taxonomy, 0.0, zoom=3.0)[1] for i in range(8)]
    far = [render_frame(i, 21, 640, 360, taxonomy, 0.0)[1] for i in range(8)]

    def median_side(frames: list) -> float:
        return float(np.median([max(b[2] - b[0], b[3] - b[1]) for labels in frames for _, b in labels]))

    assert median_side(near) > 2.0 * median_side(far)
    assert max(len(labels) for labels in near) <= 1  # round(8 / 3**2): few items fit a close view
    assert render_frame(2, 21, 640, 360, taxonomy, 0.0, zoom=1.0)[1] == far[2]


def test_cli_mix_weighs_a_data_set_named_twice_and_train_refuses_unknown_augment(prepped: Path, tmp_path: Path) -> None:
    photos = prepped / "photos"
    r = _qc("dataset", "mix", str(photos), str(photos), "--val", str(photos), "--out", str(tmp_path / "mix"),
            cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    names = sorted(p.name for p in (tmp_path / "mix" / "images" / "train").iterdir())
    n = len(list((photos / "images" / "train").iterdir()))
    assert len(names) == 2 * n
    assert sum(x.startswith("photos-2__") for x in names) == n
    r = _qc("train", "--data", str(tmp_path / "mix"), "--out", str(tmp_path / "run"), "--augment", "mosaicc=1",
            cwd=tmp_path)
    assert r.returncode == 2 and "--augment" in r.stderr and "mosaic" in r.stderr


def test_cli_real_prep_never_overwrites_a_folder(fixture_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "precious"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    r = _qc("dataset", "real-prep", str(fixture_root), "--out", str(out), cwd=tmp_path)
    assert r.returncode == 2 and "--out" in r.stderr and "not empty" in r.stderr
    assert (out / "keep.txt").read_text() == "mine"
    r = _qc("dataset", "real-prep", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x"), cwd=tmp_path)
    assert r.returncode == 2 and "folder not found" in r.stderr
