"""The real photo collections as typed values: single fruit (produce + condition), boxed web photos, clutter.

Layout of the shared real-produce folder (its README says where each part comes from)::

    <root>/fresh-rotten/<produce>_<condition>/*.jpg   one fruit per photo, no boxes
    <root>/fruit-photos/images/*.jpg + annotations.json   COCO boxes of apples, bananas, oranges (all fresh)

Clutter (real scenes with no produce: people, a cat, a camera, a coffee cup, coins, text, bricks …) comes from
the sample images bundled inside scikit-image's wheel (``skimage/data``; nothing is downloaded).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from training.real.split import Fold, content_key, is_dev_key, split_of_key
from vision.errors import InputError
from vision.taxonomy import Taxonomy

# scikit-image samples that are not real scenes (synthetic charts, a phantom) or are produce-coloured discs whose
# source we cannot vouch for as "no produce" are still fine as negatives; only tiny or non-photo files are left out.
_NOT_PHOTOS = {"chessboard_GRAY.png", "chessboard_RGB.png", "logo.png", "phantom.png", "color.png"}


@dataclass(frozen=True)
class SingleFruitPhoto:
    """A photo of one fruit (a few bananas in a bunch count as one item) of a known produce kind and condition."""

    path: Path
    produce: str
    condition: str
    split: str
    key: str

    @property
    def class_name(self) -> str:
        """Its detector class name, ``<produce>_<condition>``."""
        return f"{self.produce}_{self.condition}"


@dataclass(frozen=True)
class PhotoBox:
    """One box of a boxed photo: produce kind and corners in pixels."""

    produce: str
    x0: float
    y0: float
    x1: float
    y1: float


@dataclass(frozen=True)
class BoxedPhoto:
    """A real photo with hand-drawn boxes of produce (all fresh-looking)."""

    path: Path
    width: int
    height: int
    boxes: tuple[PhotoBox, ...]
    split: str
    key: str


@dataclass(frozen=True)
class ClutterPhoto:
    """A real photo with no produce in it: a hard negative."""

    path: Path
    split: str
    key: str


PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")


def clutter_photos_in(folder: Path) -> list[ClutterPhoto]:
    """Every photo directly in ``folder`` (jpg, jpeg, png), sorted, as clutter of split ``extra``: a user's own photos
    with no produce (the warehouse floor, hands, cartons), never part of any training split. InputError when the
    folder is missing or holds no photo."""
    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder")
    paths = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES)
    if not paths:
        raise InputError(f"{folder} holds no photo ({', '.join(PHOTO_SUFFIXES)})")
    return [ClutterPhoto(p, "extra", content_key(p)) for p in paths]


SPLITS = ("val", "train", "dev", "all")
FOLD_PREFIX = "fold:"  # ``fold:1/5``: part 1 of 5 of the training split


def check_split(split: str) -> Fold | None:
    """The fold a ``fold:I/K`` split names, None for a named split (`SPLITS`); ValueError naming the accepted forms
    for anything else."""
    if split.startswith(FOLD_PREFIX):
        return Fold.parse(split[len(FOLD_PREFIX):])
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)} or {FOLD_PREFIX}I/K, got {split!r}")
    return None


def in_split(photo: SingleFruitPhoto | BoxedPhoto | ClutterPhoto, split: str) -> bool:
    """Whether ``photo`` belongs to ``split``: ``val`` (held out), ``train`` (every other photo), ``dev`` (the
    development fifth of train: `training.real.split.is_dev_key`), ``all``, or ``fold:I/K`` (part I of K of train:
    `training.real.split.Fold`); see `check_split`."""
    fold = check_split(split)
    if fold is not None:
        return fold.holds(photo.key)
    if split == "all":
        return True
    if split == "dev":
        return is_dev_key(photo.key)
    return photo.split == split


def single_fruit_photos(root: Path, taxonomy: Taxonomy) -> list[SingleFruitPhoto]:
    """Every photo under ``root/fresh-rotten`` (or ``root`` itself when it holds the class folders), sorted."""
    base = root / "fresh-rotten" if (root / "fresh-rotten").is_dir() else root
    folders = sorted(p for p in base.iterdir() if p.is_dir()) if base.is_dir() else []
    if not folders:
        raise InputError(f"no <produce>_<condition> folders under {base}")
    photos: list[SingleFruitPhoto] = []
    for folder in folders:
        produce, _, condition = folder.name.partition("_")
        if produce not in taxonomy.produce or condition not in taxonomy.condition_names:
            raise InputError(f"folder {folder} is not <produce>_<condition> of the taxonomy "
                             f"(produce {list(taxonomy.produce)}, conditions {list(taxonomy.condition_names)})")
        for path in sorted(folder.glob("*.jpg")) + sorted(folder.glob("*.png")):
            key = content_key(path)
            photos.append(SingleFruitPhoto(path, produce, condition, split_of_key(key), key))
    return photos


def boxed_photos(root: Path, taxonomy: Taxonomy) -> list[BoxedPhoto]:
    """The COCO-annotated photos under ``root/fruit-photos`` (or ``root``), with boxes in pixels, sorted by file."""
    base = root / "fruit-photos" if (root / "fruit-photos").is_dir() else root
    ann_path = base / "annotations.json"
    if not ann_path.is_file():
        raise InputError(f"no annotations.json in {base}")
    doc = json.loads(ann_path.read_text())
    names = {int(c["id"]): str(c["name"]) for c in doc["categories"]}
    unknown = sorted(set(names.values()) - set(taxonomy.produce))
    if unknown:
        raise InputError(f"{ann_path}: categories {unknown} are not produce kinds of the taxonomy")
    per_image: dict[int, list[PhotoBox]] = {}
    for a in doc["annotations"]:
        x, y, w, h = (float(v) for v in a["bbox"])
        if w > 1 and h > 1:
            per_image.setdefault(int(a["image_id"]), []).append(PhotoBox(names[int(a["category_id"])], x, y, x + w, y + h))
    photos = []
    for img in doc["images"]:
        path = base / "images" / str(img["file_name"])
        key = content_key(path)
        photos.append(BoxedPhoto(path, int(img["width"]), int(img["height"]),
                                 tuple(per_image.get(int(img["id"]), ())), split_of_key(key), key))
    return sorted(photos, key=lambda p: p.path.name)


def clutter_photos() -> list[ClutterPhoto]:
    """scikit-image's bundled sample photos (no produce in any), sorted; InputError when scikit-image is missing."""
    try:
        import skimage
    except ImportError:
        raise InputError("clutter photos come from scikit-image's sample images: pip install scikit-image "
                         "(part of the train extra)") from None
    folder = Path(skimage.__file__).parent / "data"
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES and p.name not in _NOT_PHOTOS)
    out = []
    for p in paths:
        key = content_key(p)
        out.append(ClutterPhoto(p, split_of_key(key), key))
    return out
