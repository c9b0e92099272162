"""`qc dataset grader-crops`: the grader's training set, crops cut exactly as the edge cuts them (`vision.grader_crop`).

An ultralytics classification folder (``train/<class>/*.jpg``, ``val/<class>/*.jpg``), classes are detector class
names (``apple_rotten`` …). Sources, all from training splits only:

- single-fruit real photos (their checked mask's box, else the whole photo; each in four orientations): real fresh
  and real decay;
- boxed real web photos: real fresh produce in piles and scenes;
- detection data sets (rendered belts with real cut-outs, plain renders): each labelled box cropped from the belt
  frame, so the grader also learns what the edge will show it, and sees the conditions and the produce (tomato)
  no real photo has;
- ``not_produce`` (`vision.grader.NOT_PRODUCE`): what the detector may box that is no produce at all, so the
  grader can veto it: random squares of the real clutter photos (scikit-image's samples: people, animals, text,
  tools, buildings), of the boxed web photos away from every box (tables, grass, walls, watermarks) and of the
  belt frames away from every label (belt, rails, the real clutter laid on the belt); with ``hard_negatives``, also
  the boxes a detector finds on the clutter photos (in their four orientations): random squares rarely land on the
  very spots a detector takes for fruit, and those are what the veto must catch.

``val/`` picks the grader's best epoch: the detection data sets' val splits and, with ``hold_out_dev``, every real
photo of the development fifth of the training split (`training.real.split.is_dev_key`), or of one fold of it
(``hold_out_fold``: `training.real.split.Fold`), so the epoch is chosen on real decay too; never a photo of the
held-out ``val`` split.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from training.real.cutout import cut_out
from training.real.painted_rot import painted_rot
from training.real.quarter_turns import QUARTER_TURNS, turned
from training.real.sources import boxed_photos, clutter_photos, single_fruit_photos
from training.real.split import Fold, is_dev_key
from vision.grader import NOT_PRODUCE, grader_crop
from vision.taxonomy import Taxonomy

MIN_BOX_PX = 24  # smaller boxes hold too few pixels to grade (and the edge would not grade them either)
# The single-fruit photos are the only real decay there is: each is written in its four top-down orientations
# (`QUARTER_TURNS`) so it weighs about as much as the belt crops of its class.
# Besides the checked mask's own box, each further view of a single fruit is cut from a box scaled and shifted at
# random, as a detector's box on the belt is looser, tighter or off-centre: the grader must not learn one framing.
JITTER_SCALE = (0.85, 1.25)
JITTER_SHIFT = 0.08  # of the box's side
ELONGATED = {"banana"}
# Squares of no produce per photo or frame: the clutter photos are few and varied, so each gives many views.
CLUTTER_SQUARES = 24
BACKGROUND_SQUARES = 2
# Square sides as a share of the image's short side: from an item's size on the belt to a frame-filling object.
SQUARE_SIDES = (0.12, 0.6)
# A background square may overlap a produce box by at most this share of the square's area.
MAX_PRODUCE_OVERLAP = 0.05
# Crops per detector box on a clutter photo: its own box, then jittered ones, as the edge's views of an item vary.
HARD_NEGATIVE_VIEWS = 3


@dataclass
class CropReport:
    """Crops written per split and class, and per source."""

    out: Path
    per_class: dict[str, dict[str, int]] = field(default_factory=dict)  # split -> class -> crops
    per_source: dict[str, int] = field(default_factory=dict)
    held_out: str | None = None  # which real training photos went to val/: "dev", "fold:I/K" or None

    def to_dict(self) -> dict:
        """JSON form."""
        return {"out": str(self.out), "held_out": self.held_out, "per_class": self.per_class,
                "per_source": self.per_source}


def _yolo_boxes(label: Path, w: int, h: int) -> list[tuple[int, tuple[float, float, float, float]]]:
    boxes = []
    for line in label.read_text().split("\n"):
        parts = line.split()
        if len(parts) == 5:
            c, cx, cy, bw, bh = int(parts[0]), *(float(v) for v in parts[1:])
            boxes.append((c, ((cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h)))
    return boxes


def free_squares(
    w: int, h: int, boxes: Sequence[tuple[float, float, float, float]], n: int, rng: np.random.Generator,
) -> list[tuple[int, int, int, int]]:
    """Up to ``n`` random squares (x0, y0, x1, y1) inside a ``w`` x ``h`` image that overlap no box in ``boxes``
    by more than `MAX_PRODUCE_OVERLAP` of their area (a few tries each; fewer when the image is crowded)."""
    out: list[tuple[int, int, int, int]] = []
    short = min(w, h)
    for _ in range(n * 8):
        if len(out) == n:
            break
        side = int(short * rng.uniform(*SQUARE_SIDES))
        if side < MIN_BOX_PX:
            continue
        x0, y0 = int(rng.integers(0, w - side + 1)), int(rng.integers(0, h - side + 1))
        x1, y1 = x0 + side, y0 + side
        overlap = max((max(0.0, min(x1, b[2]) - max(x0, b[0])) * max(0.0, min(y1, b[3]) - max(y0, b[1]))
                       for b in boxes), default=0.0)
        if overlap <= MAX_PRODUCE_OVERLAP * side * side:
            out.append((x0, y0, x1, y1))
    return out


def jittered_box(
    box: tuple[float, float, float, float], w: int, h: int, rng: np.random.Generator,
) -> tuple[float, float, float, float]:
    """``box`` scaled by `JITTER_SCALE` and shifted by up to `JITTER_SHIFT` of its side, clipped to the image."""
    x0, y0, x1, y1 = box
    bw, bh = x1 - x0, y1 - y0
    cx = (x0 + x1) / 2 + rng.uniform(-JITTER_SHIFT, JITTER_SHIFT) * bw
    cy = (y0 + y1) / 2 + rng.uniform(-JITTER_SHIFT, JITTER_SHIFT) * bh
    s = rng.uniform(*JITTER_SCALE)
    return (max(0.0, cx - bw * s / 2), max(0.0, cy - bh * s / 2), min(float(w), cx + bw * s / 2),
            min(float(h), cy + bh * s / 2))


def grader_crops(
    root: Path,
    detection_sets: Sequence[Path],
    out: Path,
    taxonomy: Taxonomy,
    size: int = 160,
    max_per_class: int = 500,
    seed: int = 0,
    on_step: Callable[[int, int], None] | None = None,
    single_views: int = 2,
    hold_out_dev: bool = True,
    painted_rot_views: int = 0,
    hold_out_fold: Fold | None = None,
    hard_negatives: Callable[[np.ndarray], np.ndarray] | None = None,
) -> CropReport:
    """Write the grader's crop data set under ``out`` (see the module docstring); at most ``max_per_class`` crops
    per class and split from the detection sets (real photos are always all kept: they are the scarce part).

    ``single_views``: training crops per single-fruit photo and orientation (the mask's box, then `jittered_box`es);
    ``hold_out_dev``: the development fifth of the real training photos goes to ``val/`` instead of ``train/``;
    ``hold_out_fold``: that fold of the training photos goes to ``val/`` instead (in place of the development fifth);
    ``painted_rot_views``: rotten training crops per fresh single-fruit training photo whose mask passed its check,
    each with the renderer's rot painted on the real fruit (`training.real.painted_rot`), a random orientation
    and a jittered box (never in ``val/``: the epoch is picked on real decay only);
    ``hard_negatives``: boxes (N, 4) xyxy that a detector finds in a BGR image; each box it finds on a clutter
    photo, in each of the photo's four orientations, becomes `HARD_NEGATIVE_VIEWS` ``not_produce`` crops.
    """
    if single_views < 1:
        raise ValueError(f"single_views must be at least 1, got {single_views}")
    if painted_rot_views < 0:
        raise ValueError(f"painted_rot_views must be 0 or more, got {painted_rot_views}")

    def split_for(key: str) -> str:
        if hold_out_fold is not None:
            return "val" if hold_out_fold.holds(key) else "train"
        return "val" if hold_out_dev and is_dev_key(key) else "train"

    held_out = f"fold:{hold_out_fold}" if hold_out_fold is not None else ("dev" if hold_out_dev else None)
    report = CropReport(out, held_out=held_out)
    rng = np.random.default_rng(seed)
    # Its own stream: with or without hard negatives, every other crop is the same (a comparison changes one thing).
    hard_rng = np.random.default_rng([seed, 1])
    written: dict[tuple[str, str], int] = Counter()

    def write(split: str, cls: str, name: str, crop: np.ndarray, source: str) -> None:
        folder = out / split / cls
        folder.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / f"{name}.jpg"), crop, [cv2.IMWRITE_JPEG_QUALITY, 95])
        written[(split, cls)] += 1
        report.per_source[source] = report.per_source.get(source, 0) + 1

    singles = [p for p in single_fruit_photos(root, taxonomy) if p.split == "train"]
    boxed = [p for p in boxed_photos(root, taxonomy) if p.split == "train"]
    clutter = [p for p in clutter_photos() if p.split == "train"]
    steps = len(singles) + len(boxed) + len(clutter) + len(detection_sets)
    done = iter(range(1, steps + 1))

    def step() -> None:  # one source photo or data set finished
        if on_step:
            on_step(next(done), steps)
    for p in clutter:
        image = cv2.imread(str(p.path), cv2.IMREAD_COLOR)
        h, w = image.shape[:2]
        for i, square in enumerate(free_squares(w, h, [], CLUTTER_SQUARES, rng)):
            write(split_for(p.key), NOT_PRODUCE, f"clutter_{p.key[:12]}_{i}", grader_crop(image, square, size),
                  "real clutter photos")
        if hard_negatives is not None:
            for r, turn in enumerate(QUARTER_TURNS):
                view = turned(image, turn)
                th, tw = view.shape[:2]
                for i, found in enumerate(np.asarray(hard_negatives(view), np.float32).reshape(-1, 4)):
                    box = (float(found[0]), float(found[1]), float(found[2]), float(found[3]))
                    if min(box[2] - box[0], box[3] - box[1]) < MIN_BOX_PX:
                        continue
                    for v in range(HARD_NEGATIVE_VIEWS):
                        crop = grader_crop(view, box if v == 0 else jittered_box(box, tw, th, hard_rng), size)
                        write(split_for(p.key), NOT_PRODUCE, f"hard_{p.key[:12]}_r{r}_{i}_v{v}", crop,
                              "detector boxes on real clutter photos")
        step()
    fresh = taxonomy.condition_names[0]
    rotten_name = min(taxonomy.conditions, key=lambda cond: cond.freshness).name  # what painted rot stands for
    for p in singles:
        image = cv2.imread(str(p.path), cv2.IMREAD_COLOR)
        c = cut_out(image, elongated=p.produce in ELONGATED)
        h, w = image.shape[:2]
        box = c.box if c.ok else (0, 0, w, h)
        split = split_for(p.key)
        views = 1 if split == "val" else single_views  # val judges the framing the mask gives, once per orientation
        for r, turn in enumerate(QUARTER_TURNS):
            for v in range(views):
                crop = grader_crop(image, box if v == 0 else jittered_box(box, w, h, rng), size)
                name = f"single_{p.key[:16]}_r{r}" + (f"_v{v}" if v else "")
                write(split, p.class_name, name, turned(crop, turn), "real single-fruit photos")
        rotten = f"{p.produce}_{rotten_name}"
        if split == "train" and c.ok and p.condition == fresh and rotten in taxonomy.class_names:
            for v in range(painted_rot_views):
                painted, pbox = painted_rot(image, c, p.produce in ELONGATED, rng)
                ph, pw = painted.shape[:2]
                crop = grader_crop(painted, pbox if v == 0 else jittered_box(pbox, pw, ph, rng), size)
                turn = QUARTER_TURNS[int(rng.integers(len(QUARTER_TURNS)))]
                write(split, rotten, f"painted_{p.key[:16]}_v{v}", turned(crop, turn),
                      "real fresh photos with painted rot")
        step()
    for p in boxed:
        image = cv2.imread(str(p.path), cv2.IMREAD_COLOR)
        for i, b in enumerate(p.boxes):
            if min(b.x1 - b.x0, b.y1 - b.y0) >= MIN_BOX_PX:
                write(split_for(p.key), f"{b.produce}_{fresh}", f"boxed_{p.key[:12]}_{i}",
                      grader_crop(image, (b.x0, b.y0, b.x1, b.y1), size), "real boxed photos")
        h, w = image.shape[:2]
        taken = [(b.x0, b.y0, b.x1, b.y1) for b in p.boxes]
        for i, square in enumerate(free_squares(w, h, taken, BACKGROUND_SQUARES, rng)):
            write(split_for(p.key), NOT_PRODUCE, f"boxed_bg_{p.key[:12]}_{i}", grader_crop(image, square, size),
                  "real boxed photos' backgrounds")
        step()
    for ds in detection_sets:
        for split in ("train", "val"):
            images = sorted((ds / "images" / split).glob("*.jpg"))
            boxes = []
            for img_path in images:
                label = ds / "labels" / split / f"{img_path.stem}.txt"
                if label.is_file():
                    boxes.append((img_path, label))
            order = rng.permutation(len(boxes))
            budget: Counter = Counter()
            for k in order:
                img_path, label = boxes[k]
                image = cv2.imread(str(img_path), cv2.IMREAD_COLOR)
                h, w = image.shape[:2]
                labelled = _yolo_boxes(label, w, h)
                if budget[NOT_PRODUCE] < max_per_class:
                    for i, square in enumerate(free_squares(w, h, [b for _, b in labelled], 1, rng)):
                        budget[NOT_PRODUCE] += 1
                        write(split, NOT_PRODUCE, f"{ds.name}_{img_path.stem}_bg{i}", grader_crop(image, square, size),
                              f"belt backgrounds {ds.name}")
                for i, (c, box) in enumerate(labelled):
                    cls = taxonomy.class_names[c]
                    if min(box[2] - box[0], box[3] - box[1]) < MIN_BOX_PX or budget[cls] >= max_per_class:
                        continue
                    budget[cls] += 1
                    write(split, cls, f"{ds.name}_{img_path.stem}_{i}", grader_crop(image, box, size), f"belt frames {ds.name}")
        step()
    for (split, cls), n in sorted(written.items()):
        report.per_class.setdefault(split, {})[cls] = n
    # ultralytics wants the same class folders in train and val; an empty val folder is allowed.
    for cls in {c for (_, c) in written}:
        for split in ("train", "val"):
            (out / split / cls).mkdir(parents=True, exist_ok=True)
    (out / "crops.json").write_text(json.dumps({"size": size, **report.to_dict()}, indent=1))
    return report
