"""Import a COCO detection file (``images``, ``annotations``, ``categories``) onto the taxonomy.

Categories are matched by name through the mapping. A ``bbox`` is ``[x, y, w, h]`` in pixels of the image size
the JSON records; it is clipped to the image and normalised. Each image's size in the JSON is checked against
the file's own header (EXIF orientation applied, as OpenCV decodes it): an image whose size differs is skipped,
since its boxes would land in the wrong place. ``iscrowd`` annotations are dropped and counted (a crowd region is
not one object). Images without annotations are kept as negatives.

A ``file_name`` is a path relative to the images folder (``x.jpg``, ``images/x.jpg``, ``train/sub/x.jpg``); its
folders become part of the output file name (``train__sub__x.jpg``, see `training.importers.output_name`). An
absolute ``file_name`` or one with ``..`` stops the import with an error naming the image.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from training.importers import (
    ImportReport,
    Progress,
    SourceBox,
    SourceImage,
    assign_split,
    check_fractions,
    check_out_dir,
    clip_box,
    safe_relative,
    write_import,
)
from training.importers.mapping import LabelMapping
from training.yolo_dataset import SPLITS, DatasetError, image_size
from vision.options import is_number


def import_coco(
    annotations: Path,
    images_dir: Path,
    out_dir: Path,
    mapping: LabelMapping,
    *,
    drop_unmapped: bool = False,
    split: str | None = None,
    val_fraction: float = 0.1,
    test_fraction: float = 0.0,
    link: bool = True,
    progress: Progress | None = None,
) -> ImportReport:
    """Import a COCO JSON file whose ``file_name``s are relative to ``images_dir`` into a new folder ``out_dir``.

    ``split`` puts every image into one split; without it ``val_fraction``/``test_fraction`` of the images (by
    a hash of the file name) go to val/test. Raises DatasetError for an unreadable or malformed JSON file, a
    ``file_name`` that is absolute or contains ``..``, a non-empty ``out_dir``, or categories without a mapping
    rule (all listed; see ``drop_unmapped``).
    """
    annotations, images_dir = Path(annotations), Path(images_dir)
    if split is not None and split not in SPLITS:
        raise DatasetError(f"--split must be one of {', '.join(SPLITS)}, got {split!r}")
    check_fractions(val_fraction, test_fraction)
    if not images_dir.is_dir():
        raise DatasetError(f"COCO images folder not found: {images_dir}")
    check_out_dir(out_dir)
    coco = _load_json(annotations)
    categories = _categories(coco, annotations)
    report = ImportReport(source=str(annotations), out_dir=out_dir)
    per_image = _boxes_per_image(coco, categories, annotations.name, report)
    images: list[SourceImage] = []
    for entry in coco["images"]:
        image = _source_image(entry, per_image, annotations, images_dir, report, split, val_fraction, test_fraction)
        if image is not None:
            images.append(image)
    known_ids = {e.get("id") for e in coco["images"] if isinstance(e, dict)}
    for image_id, anns in per_image.items():
        if image_id not in known_ids:
            for _, _, where in anns:
                report.skip(where, f"image_id {image_id!r} is not in 'images'")
    if not images:
        raise DatasetError(f"{annotations}: none of its images could be imported from {images_dir}")
    return write_import(images, mapping, out_dir, report, drop_unmapped=drop_unmapped, link=link, progress=progress)


def _load_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise DatasetError(f"COCO annotation file not found: {path}")
    try:
        coco = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(coco, dict):
        raise DatasetError(f"{path}: expected a JSON object with 'images', 'annotations' and 'categories'")
    for key in ("images", "categories"):
        if not isinstance(coco.get(key), list):
            raise DatasetError(f"{path}: '{key}' must be a list")
    # A file of unlabelled images may leave 'annotations' out; anything else there is malformed.
    if not isinstance(coco.setdefault("annotations", []), list):
        raise DatasetError(f"{path}: 'annotations' must be a list")
    return coco


def _categories(coco: dict[str, Any], path: Path) -> dict[Any, str]:
    categories: dict[Any, str] = {}
    for i, cat in enumerate(coco["categories"]):
        if not isinstance(cat, dict) or "id" not in cat or "name" not in cat:
            raise DatasetError(f"{path}: categories[{i}] needs 'id' and 'name', got {cat!r}")
        categories[cat["id"]] = str(cat["name"])
    return categories


def _boxes_per_image(
    coco: dict[str, Any], categories: dict[Any, str], file_label: str, report: ImportReport
) -> dict[Any, list[tuple[str, list[float], str]]]:
    """image id -> [(category name, bbox, where)] of the usable annotations; the rest is counted or reported."""
    per_image: dict[Any, list[tuple[str, list[float], str]]] = {}
    for i, ann in enumerate(coco["annotations"]):
        where = (
            f"{file_label}: annotation id {ann.get('id', '?')}"
            if isinstance(ann, dict)
            else f"{file_label}: annotations[{i}]"
        )
        if not isinstance(ann, dict):
            report.skip(where, "not a JSON object")
            continue
        if ann.get("iscrowd", 0):
            report.crowd += 1
            continue
        if ann.get("category_id") not in categories:
            report.skip(where, f"unknown category_id {ann.get('category_id')!r}")
            continue
        bbox = ann.get("bbox")
        if not (
            isinstance(bbox, list)
            and len(bbox) == 4
            and all(is_number(v) and math.isfinite(v) for v in bbox)
        ):
            report.skip(where, f"bbox must be 4 finite numbers [x, y, w, h], got {bbox!r}")
            continue
        if bbox[2] <= 0 or bbox[3] <= 0:
            report.skip(where, "box has zero size")
            continue
        per_image.setdefault(ann.get("image_id"), []).append((categories[ann["category_id"]], bbox, where))
    return per_image


def _source_image(
    entry: Any,
    per_image: dict[Any, list[tuple[str, list[float], str]]],
    annotations: Path,
    images_dir: Path,
    report: ImportReport,
    split: str | None,
    val_fraction: float,
    test_fraction: float,
) -> SourceImage | None:
    """The SourceImage of one ``images`` entry, or None (reported) if its file is missing, unreadable or mis-sized.

    Raises DatasetError for a ``file_name`` outside ``images_dir`` (absolute, or with ``..``).
    """
    if not isinstance(entry, dict) or not isinstance(entry.get("file_name"), str) or "id" not in entry:
        report.skip(f"images entry {entry!r:.80}", "needs 'id' and 'file_name'")
        return None
    file_name = entry["file_name"]
    rel = safe_relative(file_name, f"{annotations}: image id {entry['id']!r}")
    path = images_dir / Path(*rel.parts)
    if not path.is_file() and (images_dir / rel.name).is_file():
        # Exports often keep a folder prefix ("train2017/x.jpg") that the unpacked images do not have.
        rel = type(rel)(rel.name)
        path = images_dir / rel.name
    if not path.is_file():
        report.skip(file_name, f"image file not found in {images_dir}")
        return None
    try:
        width, height = image_size(path)
    except DatasetError as exc:
        report.skip(file_name, f"unreadable image ({exc.__cause__ or exc})")
        return None
    json_size = (entry.get("width"), entry.get("height"))
    if json_size != (None, None) and json_size != (width, height):
        report.skip(
            file_name, f"size mismatch: annotations say {json_size[0]}x{json_size[1]}, file is {width}x{height}"
        )
        return None
    boxes: list[SourceBox] = []
    for name, (x, y, w, h), where in per_image.get(entry["id"], []):
        box, clipped = clip_box(name, x / width, y / height, (x + w) / width, (y + h) / height)
        report.clipped += clipped
        if box is None:
            report.skip(where, "box lies outside the image")
        else:
            boxes.append(box)
    target = split or assign_split(rel.name, val_fraction, test_fraction)
    return SourceImage(path=path, split=target, rel=rel, boxes=tuple(boxes))
