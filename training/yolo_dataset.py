"""Reading an ultralytics-format detection data set: ``data.yaml`` plus ``images/<split>`` and ``labels/<split>``.

Layout (the one ultralytics trains on)::

    <root>/data.yaml              path: <root> (absolute, or relative to data.yaml; omitted = data.yaml's folder)
                                  train/val/test: a folder of images, a .txt list of images, or a list of either,
                                                  each relative to ``path``
                                  names: [class names] or {id: name}
    <root>/images/<split>/*.jpg|png
    <root>/labels/<split>/*.txt   one box per line: ``cls cx cy w h`` normalised to [0, 1]
                                  (a polygon ``cls x1 y1 x2 y2 ...`` is accepted too and becomes its bounding box)

An image's label file is found the ultralytics way: the last ``/images/`` in its path becomes ``/labels/`` and the
suffix ``.txt``. A missing or empty label file is a background image (no boxes), which is valid.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from vision.errors import QCError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
SPLITS = ("train", "val", "test")
# Every declared split at once: a data set rendered from a held-out seed is unseen as a whole.
ALL_SPLITS = "all"
# Normalised coordinates are written as decimal text; allow for its rounding, nothing more.
_COORD_TOLERANCE = 1e-6


class DatasetError(QCError):
    """A data set (data.yaml, image list or label file) is missing, malformed or inconsistent with the taxonomy."""


@dataclass(frozen=True)
class GroundTruth:
    """One image's labelled boxes: ``xyxy`` (N, 4) float32 in image pixels, ``class_id`` (N,) int64."""

    xyxy: np.ndarray
    class_id: np.ndarray

    def __post_init__(self) -> None:
        if self.xyxy.ndim != 2 or self.xyxy.shape[1] != 4:
            raise DatasetError(f"GroundTruth.xyxy must be (N, 4), got {self.xyxy.shape}")
        if self.class_id.shape != (len(self.xyxy),):
            raise DatasetError(f"GroundTruth.class_id has shape {self.class_id.shape}, xyxy has {len(self.xyxy)} rows")

    @classmethod
    def of(cls, xyxy: Any, class_id: Any) -> GroundTruth:
        """Build from anything array-like (lists in tests, arrays from label files)."""
        return cls(np.asarray(xyxy, np.float32).reshape(-1, 4), np.asarray(class_id, np.int64).reshape(-1))

    def __len__(self) -> int:
        return len(self.xyxy)


@dataclass(frozen=True)
class YoloSample:
    """One image of a split: its path, size in pixels (as decoded, EXIF orientation applied) and ground truth."""

    image_path: Path
    width: int
    height: int
    truth: GroundTruth


@dataclass(frozen=True)
class YoloDataset:
    """A parsed ``data.yaml``: the data set root, class names and each declared split's image sources."""

    yaml_path: Path
    root: Path
    names: tuple[str, ...]
    splits: dict[str, tuple[Path, ...]]

    @property
    def default_eval_split(self) -> str:
        """``test`` if the data set declares it, else ``val``."""
        return "test" if "test" in self.splits else "val"

    def samples(self, split: str | None = None) -> list[YoloSample]:
        """Every image of ``split`` (default: `default_eval_split`; ``"all"``: every split) with its ground truth."""
        return list_samples(self, split)


def load_dataset(path: str | os.PathLike[str]) -> YoloDataset:
    """Parse a data set given as its folder (holding ``data.yaml``) or as the YAML file itself."""
    p = Path(path)
    if not p.exists():
        raise DatasetError(f"data set not found: {p}")
    yaml_path = p / "data.yaml" if p.is_dir() else p
    if not yaml_path.is_file():
        raise DatasetError(f"no data.yaml in data set folder {p}")
    try:
        raw = yaml.safe_load(yaml_path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{yaml_path}: not valid YAML ({exc})") from exc
    if not isinstance(raw, dict):
        raise DatasetError(f"{yaml_path}: expected a mapping with 'names' and 'train'/'val'/'test' entries")

    root = yaml_path.parent
    if raw.get("path"):
        # Relative to the YAML file, so a data set folder can be moved or copied as a whole.
        root = Path(raw["path"]) if Path(raw["path"]).is_absolute() else yaml_path.parent / raw["path"]
    names = _parse_names(raw.get("names"), yaml_path)
    splits: dict[str, tuple[Path, ...]] = {}
    for split in SPLITS:
        entry = raw.get(split)
        if entry in (None, "", []):
            continue
        entries = entry if isinstance(entry, list) else [entry]
        if not all(isinstance(e, str) for e in entries):
            raise DatasetError(f"{yaml_path}: '{split}' must be a path or a list of paths, got {entry!r}")
        splits[split] = tuple(Path(e) if Path(e).is_absolute() else root / e for e in entries)
    if not splits:
        raise DatasetError(f"{yaml_path}: declares none of the splits {', '.join(SPLITS)}")
    return YoloDataset(yaml_path=yaml_path, root=root, names=names, splits=splits)


def _parse_names(raw: Any, yaml_path: Path) -> tuple[str, ...]:
    if isinstance(raw, list) and raw:
        return tuple(str(n) for n in raw)
    if isinstance(raw, dict) and raw:
        try:
            ids = sorted(int(k) for k in raw)
        except (TypeError, ValueError):
            raise DatasetError(f"{yaml_path}: 'names' keys must be class ids, got {list(raw)}") from None
        if ids != list(range(len(ids))):
            raise DatasetError(f"{yaml_path}: 'names' ids must be 0..{len(ids) - 1} without gaps, got {ids}")
        by_id = {int(k): str(v) for k, v in raw.items()}
        return tuple(by_id[i] for i in ids)
    raise DatasetError(f"{yaml_path}: 'names' must be a non-empty list or {{id: name}} mapping")


def list_samples(dataset: YoloDataset, split: str | None = None) -> list[YoloSample]:
    """Every image of ``split`` (or of every split, for ``"all"``) with its ground truth in pixels, sorted by path.

    Default split: `YoloDataset.default_eval_split`. Raises DatasetError for an unknown or empty split.
    """
    samples = []
    for image_path in image_paths(dataset, split):
        width, height = image_size(image_path)
        truth = read_label_file(label_path_for(image_path), len(dataset.names), width, height)
        samples.append(YoloSample(image_path=image_path, width=width, height=height, truth=truth))
    return samples


def image_paths(dataset: YoloDataset, split: str | None = None) -> list[Path]:
    """The image files of ``split`` (default: `YoloDataset.default_eval_split`; ``"all"``: every split), sorted,
    without reading labels or image headers. Raises DatasetError for an unknown or empty split."""
    split = split or dataset.default_eval_split
    if split == ALL_SPLITS:
        sources = tuple(source for paths in dataset.splits.values() for source in paths)
    elif split in dataset.splits:
        sources = dataset.splits[split]
    else:
        declared = ", ".join(dataset.splits)
        raise DatasetError(
            f"{dataset.yaml_path}: no '{split}' split (declared: {declared}); pick one, or '{ALL_SPLITS}', with --split"
        )
    images = _image_paths(sources, dataset.yaml_path)
    if not images:
        sources_text = ", ".join(str(s) for s in sources)
        raise DatasetError(f"{dataset.yaml_path}: split '{split}' has no images (looked in {sources_text})")
    return images


def _image_paths(sources: tuple[Path, ...], yaml_path: Path) -> list[Path]:
    found: list[Path] = []
    for source in sources:
        if source.is_dir():
            found.extend(p for p in source.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        elif source.is_file() and source.suffix == ".txt":
            # An image list: one path per line, relative to the list's folder (ultralytics' convention).
            for line in source.read_text().splitlines():
                if line.strip():
                    p = Path(line.strip())
                    found.append(p if p.is_absolute() else source.parent / p)
        else:
            raise DatasetError(f"{yaml_path}: split source {source} is neither a folder nor a .txt image list")
    missing = [p for p in found if not p.is_file()]
    if missing:
        raise DatasetError(f"{yaml_path}: {len(missing)} listed image(s) missing, e.g. {missing[0]}")
    return sorted(set(found))


def label_path_for(image_path: Path) -> Path:
    """The label file of an image: the last ``images`` folder in its path replaced by ``labels``, suffix ``.txt``."""
    parts = list(image_path.parts)
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            break
    return Path(*parts).with_suffix(".txt")


def image_size(image_path: Path) -> tuple[int, int]:
    """(width, height) as cv2 decodes the image: reads the header only and applies the EXIF orientation."""
    from PIL import Image

    try:
        with Image.open(image_path) as im:
            width, height = im.size
            # EXIF orientations 5-8 rotate by 90 degrees; cv2.imread applies them, so labels refer to the rotated size.
            if im.getexif().get(0x0112, 1) in (5, 6, 7, 8):
                width, height = height, width
    # Pillow raises OSError subclasses, but once ultralytics is imported its patched Image.open raises others
    # (it tries to load a HEIF plugin for unidentified files); any failure here means the same thing.
    except Exception as exc:
        raise DatasetError(f"{image_path}: not a readable image ({exc})") from exc
    return int(width), int(height)


def read_label_file(path: Path, num_classes: int, width: int, height: int) -> GroundTruth:
    """Parse one label file into pixel boxes; a missing file means no boxes. Errors name the file and line."""
    if not path.is_file():
        return GroundTruth.of(np.zeros((0, 4)), np.zeros(0))
    boxes: list[tuple[float, float, float, float]] = []
    classes: list[int] = []
    for lineno, line in enumerate(path.read_text().splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        where = f"{path}:{lineno}"
        try:
            cls_value = float(fields[0])
            coords = [float(v) for v in fields[1:]]
        except ValueError:
            raise DatasetError(f"{where}: not numbers: {line.strip()!r}") from None
        if not cls_value.is_integer():
            raise DatasetError(f"{where}: class id {fields[0]!r} is not an integer")
        cls = int(cls_value)
        if not 0 <= cls < num_classes:
            raise DatasetError(f"{where}: class id {cls} outside 0..{num_classes - 1}")
        if len(coords) == 4:
            cx, cy, w, h = coords
            x1, y1, x2, y2 = cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2
        elif len(coords) >= 6 and len(coords) % 2 == 0:
            xs, ys = coords[0::2], coords[1::2]
            x1, y1, x2, y2 = min(xs), min(ys), max(xs), max(ys)
            w, h = x2 - x1, y2 - y1
        else:
            raise DatasetError(f"{where}: expected 'cls cx cy w h' (or a polygon), got {len(fields)} values")
        if min(coords) < -_COORD_TOLERANCE or max(coords) > 1 + _COORD_TOLERANCE:
            raise DatasetError(f"{where}: coordinates must be normalised to [0, 1], got {line.strip()!r}")
        if w <= 0 or h <= 0:
            raise DatasetError(f"{where}: box has zero or negative size: {line.strip()!r}")
        # A centre box may reach past the frame edge; what can be matched is its visible part.
        x1, y1, x2, y2 = (min(max(v, 0.0), 1.0) for v in (x1, y1, x2, y2))
        boxes.append((x1 * width, y1 * height, x2 * width, y2 * height))
        classes.append(cls)
    return GroundTruth.of(boxes, classes)
