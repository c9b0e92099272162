"""`qc synth frames`: an ultralytics-format data set of still conveyor frames with exact YOLO labels."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import yaml

from training.synth.belt import belt_view, make_belt
from training.synth.distractors import random_distractor
from training.synth.items import SPOILED_SHARE_DEFAULT, ItemSpec, sample_item
from training.synth.produce import Sprite
from training.synth.real_sprites import RealSprites
from training.synth.scene import Camera, Placed, compose, jpeg_roundtrip
from vision.taxonomy import Taxonomy

PX_PER_M_AT_640 = 1000.0  # a 640-px-wide frame sees 0.64 m of belt: items of 6-8 cm are 60-80 px across
SPLITS = ("train", "val", "test")


@dataclass
class FramesReport:
    """What a generation run wrote."""

    out: Path
    images: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SPLITS, 0))
    instances: dict[str, int] = field(default_factory=dict)  # class name -> boxes


def split_of(index: int, val_share: float, test_share: float) -> str:
    """Deterministic split by frame index: every frame keeps its split however many frames are generated."""
    u = ((index * 2654435761) % 2**32) / 2**32  # Knuth's multiplicative hash: spread, not clustered
    if u < test_share:
        return "test"
    if u < test_share + val_share:
        return "val"
    return "train"


def _place_items(
    specs: list[ItemSpec], sprites: list, width: int, rows: tuple[int, int], rng: np.random.Generator
) -> list[Placed]:
    """Scatter items over the belt: some cut by the frame edge, some touching; heavy overlaps are re-drawn."""
    placed: list[Placed] = []
    boxes: list[tuple[int, int, int, int]] = []
    for label, sprite in enumerate(sprites):
        sh, sw = sprite.alpha.shape
        for _ in range(25):
            # sorted(): an item larger than the view (a zoomed camera) still gets a position, partly out of it
            x = int(rng.uniform(*sorted((-0.45 * sw, width - 0.55 * sw))))
            y = int(rng.uniform(*sorted((rows[0] - 0.2 * sh, rows[1] - 0.8 * sh))))
            box = (x, y, x + sw, y + sh)
            if all(_overlap(box, b) < 0.3 for b in boxes):
                break
        placed.append(Placed(sprite, x, y, label))
        boxes.append(box)
    return placed


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over the smaller box: how much one item would hide of another."""
    iw = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    small = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return iw * ih / max(small, 1)


def render_frame(
    index: int,
    seed: int,
    width: int,
    height: int,
    taxonomy: Taxonomy,
    spoiled_share: float,
    spoiled_mix: Mapping[str, float] | None = None,
    produce_mix: Mapping[str, float] | None = None,
    real: RealAppearance | None = None,
    zoom: float = 1.0,
) -> tuple[np.ndarray, list[tuple[int, tuple[float, float, float, float]]]]:
    """One frame and its labels ``[(class_id, (x0, y0, x1, y1)), ...]``; frame ``index`` of ``seed`` is always the same
    (for the same ``real`` cut-outs and shares). ``zoom`` > 1 is a camera closer to the belt: items that many times
    larger, fewer of them (real photos show produce far larger than a conveyor camera does)."""
    rng = np.random.default_rng([seed, index])
    # Real appearance draws from its own stream: without it, every earlier seed renders the same bytes as before.
    real_rng = np.random.default_rng([seed, index, 1])
    px_per_m = PX_PER_M_AT_640 * width / 640 * zoom
    belt = make_belt(height, width + 64, px_per_m, rng)
    background = belt_view(belt, width, offset_px=float(rng.uniform(0, 64)))
    n_items = int(rng.choice([0, 1, 2, 3, 4, 5, 6, 7, 8, 10], p=[0.03, 0.07, 0.1, 0.14, 0.15, 0.15, 0.13, 0.1, 0.08, 0.05]))
    if zoom != 1.0:  # a closer camera sees less belt: fewer items fit (the default keeps every earlier seed's bytes)
        n_items = min(n_items, max(1, int(round(8 / zoom**2))))
    specs = [sample_item(taxonomy, px_per_m, spoiled_share, rng, spoiled_mix, produce_mix) for _ in range(n_items)]
    sprites = [draw_item(s, rng, real, real_rng)[0] for s in specs]
    items = _place_items(specs, sprites, width, belt.belt_rows, rng)
    distractors = []
    for _ in range(int(rng.integers(0, 4))):
        d = random_distractor(px_per_m, rng)
        distractors.append(Placed(d, int(rng.uniform(0, width)), int(rng.uniform(0, height)), None))
    if real is not None and real.sprites.clutter:
        for _ in range(int(real_rng.poisson(real.clutter_per_frame))):
            d = real.sprites.clutter_patch(px_per_m, real_rng)
            distractors.append(Placed(d, int(real_rng.uniform(-0.3 * d.alpha.shape[1], width)),
                                      int(real_rng.uniform(-0.3 * d.alpha.shape[0], height)), None))
    # Stickers sit on items; leaves and scraps mostly lie under or between them.
    on_top = []
    for it in items:
        if rng.random() < 0.15:
            from training.synth.distractors import render_sticker

            st = render_sticker(px_per_m * rng.uniform(0.012, 0.02), rng)
            sh, sw = it.sprite.alpha.shape
            on_top.append(Placed(st, it.x + int(sw * rng.uniform(0.3, 0.6)), it.y + int(sh * rng.uniform(0.3, 0.6)), None))
    objects = distractors + items + on_top
    camera = Camera.random(height, width, rng)
    speed = float(rng.uniform(0.0, 2.5))
    blur = speed * px_per_m * rng.uniform(1 / 1000, 1 / 250)
    image, boxes = compose(background, objects, camera, len(items), rng, flicker=float(rng.uniform(0.92, 1.08)), blur_px=blur)
    image = jpeg_roundtrip(image, int(rng.integers(55, 96)))
    labels = [(specs[i].class_id(taxonomy), b) for i, b in enumerate(boxes) if b is not None]
    return image, labels


@dataclass(frozen=True)
class RealAppearance:
    """Real cut-outs and clutter for the renderer: an item whose class has cut-outs is drawn from one with
    probability ``item_share``; ``clutter_per_frame`` real-photo patches lie on the belt on average."""

    sprites: RealSprites
    item_share: float = 0.7
    clutter_per_frame: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.item_share <= 1.0:
            raise ValueError(f"real item share must be within [0, 1], got {self.item_share}")
        if self.clutter_per_frame < 0:
            raise ValueError(f"clutter per frame must be >= 0, got {self.clutter_per_frame}")


def draw_item(
    spec: ItemSpec, rng: np.random.Generator, real: RealAppearance | None, real_rng: np.random.Generator
) -> tuple[Sprite, bool]:
    """The item's sprite and whether it is real: a cut-out of its class (when ``real`` has one and the draw says
    so) or a render."""
    if real is not None and real.sprites.has(spec.produce, spec.condition) and real_rng.random() < real.item_share:
        return real.sprites.item(spec.produce, spec.condition, spec.size_px, spec.angle_deg, real_rng), True
    return spec.render(rng), False


def write_data_yaml(out: Path, taxonomy: Taxonomy) -> Path:
    """ultralytics ``data.yaml`` for the folder. No ``path:`` key: ultralytics then resolves the splits
    against the file's own folder, so the data set can move (``path: .`` would mean the working directory)."""
    path = out / "data.yaml"
    data = {
        "train": "images/train",
        "val": "images/val",
        "test": "images/test",
        "names": dict(enumerate(taxonomy.class_names)),
    }
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def make_split_dirs(out: Path) -> None:
    """``images/<split>`` and ``labels/<split>`` for every split of `SPLITS` under ``out``."""
    for split in SPLITS:
        (out / "images" / split).mkdir(parents=True, exist_ok=True)
        (out / "labels" / split).mkdir(parents=True, exist_ok=True)


def write_sample(
    out: Path, split: str, stem: str, image: np.ndarray, labels: list[tuple[int, tuple[float, float, float, float]]],
    taxonomy: Taxonomy, instances: dict[str, int],
) -> None:
    """One rendered image (JPEG) and its YOLO label file (boxes in pixels, normalised by the image's size) under
    ``out``; ``instances`` (class name -> boxes) counts the boxes written."""
    height, width = image.shape[:2]
    cv2.imwrite(str(out / "images" / split / f"{stem}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    lines = []
    for cls, (x0, y0, x1, y1) in labels:
        cx, cy, bw, bh = (x0 + x1) / 2 / width, (y0 + y1) / 2 / height, (x1 - x0) / width, (y1 - y0) / height
        lines.append(f"{cls} {cx:.6f} {cy:.6f} {bw:.6f} {bh:.6f}")
        name = taxonomy.class_names[cls]
        instances[name] = instances.get(name, 0) + 1
    (out / "labels" / split / f"{stem}.txt").write_text("\n".join(lines) + ("\n" if lines else ""))


def generate_frames(
    out: Path,
    count: int,
    seed: int,
    taxonomy: Taxonomy,
    width: int = 640,
    height: int = 360,
    spoiled_share: float = SPOILED_SHARE_DEFAULT,
    val_share: float = 0.1,
    test_share: float = 0.1,
    on_frame: Callable[[int], None] | None = None,
    spoiled_mix: Mapping[str, float] | None = None,
    produce_mix: Mapping[str, float] | None = None,
    real: RealAppearance | None = None,
    zoom: tuple[float, float] = (1.0, 1.0),
) -> FramesReport:
    """Write ``count`` frames as an ultralytics data set under ``out`` (images/, labels/, data.yaml); each frame's
    zoom is drawn evenly from the ``zoom`` range (see `render_frame`)."""
    if not 0.25 <= zoom[0] <= zoom[1] <= 8.0:
        raise ValueError(f"zoom range must satisfy 0.25 <= low <= high <= 8, got {zoom}")
    report = FramesReport(out=out)
    make_split_dirs(out)
    for i in range(count):
        z = zoom[0] if zoom[0] == zoom[1] else float(np.random.default_rng([seed, i, 2]).uniform(*zoom))
        image, labels = render_frame(i, seed, width, height, taxonomy, spoiled_share, spoiled_mix, produce_mix, real, z)
        split = split_of(i, val_share, test_share)
        write_sample(out, split, f"f{seed}_{i:06d}", image, labels, taxonomy, report.instances)
        report.images[split] += 1
        if on_frame:
            on_frame(i)
    write_data_yaml(out, taxonomy)
    return report
