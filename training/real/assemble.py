"""`qc dataset real-prep`: the shared real photos turned into training inputs, split before anything looks at them.

Writes, under ``out``::

    split.json                       every photo: collection, file, sha256, split (val = held out, never trained on)
    cutouts/<split>/<class>/*.png    checked cut-outs of the single-fruit photos (alpha = mask)
    cutouts/report.json              accepted and refused masks per class, and each refusal's reason
    clutter/<split>/*                real photos with no produce (scikit-image's samples)
    photos/                          an ultralytics data set of the photos themselves, per split: the boxed web
                                     photos with their boxes (``<produce>_fresh``), the single-fruit photos with a
                                     weak box from their checked mask (refused masks are left out), clutter photos
                                     as negatives (empty labels)

With ``hold_out_dev`` the development fifth of the training split (`training.real.split.is_dev_key`) goes to a
``dev`` split of all three (cut-outs, clutter, photos) instead of ``train``, so a detector trained on the ``train``
splits never sees the photos it can then be chosen on (`qc eval-photos --split dev`), as graders already do.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2

from training.manifest import write_manifest
from training.real.cutout import cut_out
from training.real.sources import boxed_photos, clutter_photos, single_fruit_photos
from training.real.split import is_dev_key
from training.synth.frames import write_data_yaml
from vision.errors import InputError
from vision.taxonomy import Taxonomy

PHOTO_SPLITS = ("train", "val")
DEV_SPLIT = "dev"  # with hold_out_dev: the development fifth of train, laid out beside it
ELONGATED = {"banana"}  # produce whose cut-out is a crescent, not a disc


@dataclass
class PrepReport:
    """What `real_prep` wrote: counts per collection and split, and refused masks with reasons."""

    out: Path
    photos: dict[str, dict[str, int]] = field(default_factory=dict)  # collection -> split -> photos
    cutouts: dict[str, dict[str, int]] = field(default_factory=dict)  # class -> {"accepted", "refused"}
    refused: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON form."""
        return {"out": str(self.out), "photos": self.photos, "cutouts": self.cutouts, "refused": len(self.refused)}


def _yolo_line(cls: int, box: tuple[float, float, float, float], w: int, h: int) -> str:
    x0, y0, x1, y1 = (max(0.0, min(box[0], w)), max(0.0, min(box[1], h)), max(0.0, min(box[2], w)), max(0.0, min(box[3], h)))
    return f"{cls} {(x0 + x1) / 2 / w:.6f} {(y0 + y1) / 2 / h:.6f} {(x1 - x0) / w:.6f} {(y1 - y0) / h:.6f}"


def _write_photo(ds: Path, split: str, stem: str, src: Path, lines: list[str]) -> None:
    image = ds / "images" / split / f"{stem}{src.suffix.lower()}"
    shutil.copyfile(src, image)
    (ds / "labels" / split / f"{stem}.txt").write_text("\n".join(lines) + ("\n" if lines else ""))


def real_prep(
    root: Path, out: Path, taxonomy: Taxonomy, on_photo: Callable[[int, int], None] | None = None,
    hold_out_dev: bool = False,
) -> PrepReport:
    """Split, cut out and lay out the real photos under ``root`` into ``out`` (see the module docstring)."""
    splits = (*PHOTO_SPLITS, DEV_SPLIT) if hold_out_dev else PHOTO_SPLITS

    def laid_out(split: str, key: str) -> str:
        return DEV_SPLIT if hold_out_dev and split == "train" and is_dev_key(key) else split

    singles = single_fruit_photos(root, taxonomy)
    boxed = boxed_photos(root, taxonomy)
    clutter = clutter_photos()
    if out.exists() and any(out.iterdir()):
        raise InputError(f"{out} exists and is not empty; choose a new folder")
    ds = out / "photos"
    for split in splits:
        (ds / "images" / split).mkdir(parents=True)
        (ds / "labels" / split).mkdir(parents=True)
        (out / "clutter" / split).mkdir(parents=True)
    report = PrepReport(out)
    entries: list[dict[str, Any]] = []
    total = len(singles) + len(boxed) + len(clutter)

    def record(entry: dict[str, Any]) -> None:
        """One photo laid out: its split.json entry, and progress (a photo is one entry)."""
        entries.append(entry)
        if on_photo:
            on_photo(len(entries), total)

    cut_counts: dict[str, Counter] = {}
    for p in singles:
        image = cv2.imread(str(p.path), cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError(f"cannot read image {p.path}")
        c = cut_out(image, elongated=p.produce in ELONGATED)
        split = laid_out(p.split, p.key)
        cut_counts.setdefault(p.class_name, Counter())["accepted" if c.ok else "refused"] += 1
        if c.ok:
            folder = out / "cutouts" / split / p.class_name
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{p.key[:16]}.png").write_bytes(c.rgba_png())
            h, w = image.shape[:2]
            _write_photo(ds, split, f"single_{p.class_name}_{p.key[:16]}", p.path,
                         [_yolo_line(taxonomy.class_id(p.produce, p.condition), c.box, w, h)])
        else:
            report.refused.append({"file": str(p.path.relative_to(root)), "class": p.class_name, "why": str(c.problem)})
        record({"collection": "fresh-rotten", "file": str(p.path.relative_to(root)), "sha256": p.key,
                "split": split, "class": p.class_name, "cutout": c.ok})
    for b in boxed:
        lines = [_yolo_line(taxonomy.class_id(x.produce, taxonomy.condition_names[0]), (x.x0, x.y0, x.x1, x.y1),
                            b.width, b.height) for x in b.boxes]
        split = laid_out(b.split, b.key)
        _write_photo(ds, split, f"boxed_{b.path.stem}_{b.key[:8]}", b.path, lines)
        record({"collection": "fruit-photos", "file": str(b.path.relative_to(root)), "sha256": b.key,
                "split": split, "boxes": len(b.boxes)})
    for c in clutter:
        split = laid_out(c.split, c.key)
        shutil.copyfile(c.path, out / "clutter" / split / c.path.name)
        _write_photo(ds, split, f"clutter_{c.path.stem}", c.path, [])
        record({"collection": "scikit-image samples", "file": c.path.name, "sha256": c.key, "split": split})
    for e in entries:
        per = report.photos.setdefault(e["collection"], dict.fromkeys(splits, 0))
        per[e["split"]] += 1
    report.cutouts = {k: dict(v) for k, v in sorted(cut_counts.items())}
    write_data_yaml(ds, taxonomy)
    (ds / "images" / "test").mkdir()  # data.yaml names a test split; an empty one keeps every reader happy
    (ds / "labels" / "test").mkdir()
    write_manifest(ds)
    (out / "cutouts" / "report.json").parent.mkdir(parents=True, exist_ok=True)
    (out / "cutouts" / "report.json").write_text(json.dumps({"counts": report.cutouts, "refused": report.refused}, indent=1))
    (out / "split.json").write_text(json.dumps({"val_share_rule": "training.real.split", "photos": entries}, indent=1))
    return report
