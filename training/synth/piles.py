"""`qc synth piles`: photo-like scenes of real cut-outs (a fruit filling the frame, piles, mixed groups), exact boxes.

The belt renders teach the conveyor camera; real photos of produce look different: a banana filling the frame on a
yellow backdrop, six bananas overlapping on a table, a bunch boxed banana by banana. The shared set has few such
photos with boxes, so this is copy-paste augmentation: the real cut-outs of ``qc dataset real-prep`` (each with its
checked mask) laid out as photographers lay fruit out, over studio, wooden, coloured or real-scene backdrops, through
the renderer's light, shadow, noise and JPEG. Each box is the item's visible pixels (`training.synth.scene.compose`),
so overlapping fruit get the box a person would draw and a fruit mostly hidden gets none.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from training.synth.frames import SPLITS, make_split_dirs, split_of, write_data_yaml, write_sample
from training.synth.produce import Sprite
from training.synth.real_sprites import RealSprites
from training.synth.scene import Camera, Placed, compose, jpeg_roundtrip
from vision.taxonomy import Taxonomy

FRESH_SHARE = 0.75  # the web photos are of fresh fruit; rotten cut-outs keep the condition seen at this scale too
LAYOUTS = ("single", "pile", "mixed")
LAYOUT_P = (0.3, 0.45, 0.25)
# Backdrops of the photos this stands in for: plain studio white, saturated paper, wooden tables, a real scene.
BACKDROPS = ("studio", "colour", "wood", "scene")
BACKDROP_P = (0.3, 0.25, 0.25, 0.2)
WATERMARK_P = 0.15  # stock photos carry text across the fruit
# Photos with boxes box a bunch banana by banana, so a bunch's cut-out (one mask, one label) would teach the opposite.
# A bunch is thick for its area: its largest inscribed disc has over 0.7 of the radius of a disc of the mask's area
# (one banana: 0.4-0.66 on the shared cut-outs; bunches 0.72-0.85, with a few flat ones below).
BUNCH_RADIUS_RATIO = 0.7
ELONGATED = ("banana",)


@dataclass(frozen=True)
class PileScene:
    """One rendered scene: the BGR image and its labels ``[(class_id, (x0, y0, x1, y1)), ...]`` in pixels."""

    image: np.ndarray
    labels: list[tuple[int, tuple[float, float, float, float]]]
    layout: str
    backdrop: str


def backdrop(kind: str, height: int, width: int, rng: np.random.Generator, scenes: list[np.ndarray]) -> np.ndarray:
    """A float32 BGR backdrop of the given ``kind`` (one of `BACKDROPS`); ``scenes`` are real photos to crop from
    (a 'scene' backdrop without any falls back to a coloured one)."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    ramp = (xx / width - 0.5) * rng.uniform(-0.3, 0.3) + (yy / height - 0.5) * rng.uniform(-0.3, 0.3)
    if kind == "scene" and scenes:
        photo = scenes[int(rng.integers(len(scenes)))]
        ph, pw = photo.shape[:2]
        side = int(rng.uniform(0.4, 1.0) * min(ph, pw))
        x, y = int(rng.integers(0, pw - side + 1)), int(rng.integers(0, ph - side + 1))
        img = cv2.resize(photo[y : y + side, x : x + side], (width, height)).astype(np.float32)
        if rng.random() < 0.6:  # a shallow depth of field: the fruit sharp, the scene behind it soft
            img = cv2.GaussianBlur(img, (0, 0), rng.uniform(2, 8))
        return img
    if kind == "studio":
        base = np.full(3, rng.uniform(215, 255), np.float32) * rng.uniform(0.96, 1.0, 3).astype(np.float32)
    elif kind == "wood":
        base = np.array([rng.uniform(40, 110), rng.uniform(70, 150), rng.uniform(110, 200)], np.float32)
    else:
        hsv = np.uint8([[[rng.integers(0, 180), rng.integers(60, 256), rng.integers(120, 256)]]])
        base = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0].astype(np.float32)
    img = np.ones((height, width, 3), np.float32) * base * (1 + ramp)[..., None]
    if kind == "wood":  # grain: wavy stripes along one axis, and the dark seams between planks
        along = xx if rng.random() < 0.5 else yy
        across = yy if along is xx else xx
        wave = np.sin(across / rng.uniform(3, 9) + np.sin(along / rng.uniform(40, 120)) * rng.uniform(1, 4))
        img *= (1 + 0.12 * wave)[..., None]
        for _ in range(int(rng.integers(0, 4))):  # planks
            at = int(rng.uniform(0, across.max()))
            img[(np.abs(across - at) < 2)] *= 0.55
    img += rng.normal(0, rng.uniform(1, 4), (height, width, 1)).astype(np.float32)
    return np.clip(img, 0, 255)


def thickness(alpha: np.ndarray) -> float:
    """Radius of the largest disc inside the mask over the radius of a disc of the mask's area (1 for a disc)."""
    mask = np.pad((alpha > 0.5).astype(np.uint8), 1)
    area = float(mask.sum())
    if area == 0:
        return 0.0
    return float(cv2.distanceTransform(mask, cv2.DIST_L2, 5).max()) / float(np.sqrt(area / np.pi))


def pile_sprites(sprites: RealSprites) -> RealSprites:
    """The cut-outs a pile may use: every round fruit, and only single fruit of `ELONGATED` kinds (no bunches);
    a class left with none is dropped."""
    kept = {}
    for name, found in sprites.cutouts.items():
        if name.rsplit("_", 1)[0] in ELONGATED:
            found = [s for s in found if thickness(s.alpha) <= BUNCH_RADIUS_RATIO]
        if found:
            kept[name] = found
    return RealSprites(kept, sprites.clutter)


def _place(sprites: list[Sprite], centre: tuple[float, float], spread: float, rng: np.random.Generator) -> list[Placed]:
    """Items around ``centre``, ``spread`` pixels apart on average: they touch and overlap as a pile does."""
    placed = []
    for label, sprite in enumerate(sprites):
        sh, sw = sprite.alpha.shape
        cx, cy = centre[0] + rng.normal(0, spread), centre[1] + rng.normal(0, spread * 0.8)
        placed.append(Placed(sprite, int(cx - sw / 2), int(cy - sh / 2), label))
    return placed


def render_pile(
    index: int, seed: int, width: int, height: int, taxonomy: Taxonomy, sprites: RealSprites,
) -> PileScene:
    """Scene ``index`` of ``seed`` (always the same for the same cut-outs, see `pile_sprites`): a layout from
    `LAYOUTS`, its items drawn from the cut-outs (fresh with `FRESH_SHARE`, where the produce has both), over a
    backdrop from `BACKDROPS`."""
    rng = np.random.default_rng([seed, index])
    produce = sorted({name.rsplit("_", 1)[0] for name in sprites.cutouts})
    layout = str(rng.choice(LAYOUTS, p=LAYOUT_P))
    short = min(width, height)
    if layout == "single":
        kinds, size = [str(rng.choice(produce))], short * rng.uniform(0.45, 0.95)
    elif layout == "pile":
        kinds, size = [str(rng.choice(produce))] * int(rng.integers(2, 9)), short * rng.uniform(0.18, 0.45)
    else:
        kinds, size = [str(rng.choice(produce)) for _ in range(int(rng.integers(2, 7)))], short * rng.uniform(0.18, 0.4)
    # A bunch lies one way: bananas of a pile share an angle give or take a little, round fruit face anywhere.
    angle = float(rng.uniform(0, 360))
    fresh = taxonomy.condition_names[0]
    chosen: list[tuple[str, Sprite]] = []
    for kind in kinds:
        conditions = [n.rsplit("_", 1)[1] for n in sprites.cutouts if n.rsplit("_", 1)[0] == kind]
        condition = fresh if fresh in conditions and (rng.random() < FRESH_SHARE or len(conditions) == 1) else \
            str(rng.choice([c for c in conditions if c != fresh] or conditions))
        jitter = rng.normal(0, 20) if layout == "pile" else rng.uniform(0, 360)
        item_angle = angle + jitter if layout == "pile" else float(jitter)
        sprite = sprites.item(kind, condition, size * rng.uniform(0.85, 1.15), item_angle, rng)
        chosen.append((f"{kind}_{condition}", sprite))
    backdrop_kind = str(rng.choice(BACKDROPS, p=BACKDROP_P))
    background = backdrop(backdrop_kind, height, width, rng, sprites.clutter)
    centre = (width * rng.uniform(0.3, 0.7), height * rng.uniform(0.3, 0.7))
    spread = 0.0 if layout == "single" else size * rng.uniform(0.35, 0.8)
    items = _place([s for _, s in chosen], centre, spread, rng)
    camera = Camera.random(height, width, rng)
    image, boxes = compose(background, items, camera, len(items), rng, flicker=float(rng.uniform(0.9, 1.1)))
    if rng.random() < WATERMARK_P:
        image = _watermark(image, rng)
    image = jpeg_roundtrip(image, int(rng.integers(60, 96)))
    names = taxonomy.class_names
    labels = [(names.index(chosen[i][0]), b) for i, b in enumerate(boxes) if b is not None]
    return PileScene(image=image, labels=labels, layout=layout, backdrop=backdrop_kind)


def _watermark(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Stock-photo text across the image, half transparent (OpenCV's built-in vector font: nothing downloaded)."""
    h, w = image.shape[:2]
    overlay = image.copy()
    text = "".join(rng.choice(list("ABCDEFGHKLMNPRSTUVWXYZ0123456789")) for _ in range(int(rng.integers(5, 12))))
    scale = w / 640 * rng.uniform(0.8, 2.0)
    org = (int(rng.uniform(0, 0.5) * w), int(rng.uniform(0.2, 0.95) * h))
    thick = max(1, int(scale * 2))
    cv2.putText(overlay, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thick, cv2.LINE_AA)
    opacity = float(rng.uniform(0.3, 0.7))
    return cv2.addWeighted(overlay, opacity, image, 1 - opacity, 0)


def generate_piles(
    out: Path, count: int, seed: int, taxonomy: Taxonomy, sprites: RealSprites, width: int = 640, height: int = 480,
    val_share: float = 0.05, test_share: float = 0.0, on_frame: Callable[[int], None] | None = None,
) -> dict[str, dict[str, int]]:
    """Write ``count`` scenes under ``out`` as an ultralytics data set (images/, labels/, data.yaml), split by index
    as `qc synth frames` splits; returns images per split and boxes per class."""
    sprites = pile_sprites(sprites)
    if not sprites.cutouts:
        raise ValueError("piles need real cut-outs")
    images = dict.fromkeys(SPLITS, 0)
    instances: dict[str, int] = {}
    make_split_dirs(out)
    for i in range(count):
        scene = render_pile(i, seed, width, height, taxonomy, sprites)
        split = split_of(i, val_share, test_share)
        write_sample(out, split, f"p{seed}_{i:06d}", scene.image, scene.labels, taxonomy, instances)
        images[split] += 1
        if on_frame:
            on_frame(i)
    write_data_yaml(out, taxonomy)
    return {"images": images, "instances": instances}
