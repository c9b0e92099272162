"""Import a YOLO-format folder (ultralytics, Roboflow, Label Studio, CVAT exports) onto the taxonomy.

Accepted layouts (``<split>`` is train, val, valid, validation or test; without split folders every image is
assigned a split from its file name, see `training.importers.assign_split`)::

    SRC/images/[<split>/]**/a.jpg     SRC/labels/[<split>/]**/a.txt
    SRC/<split>/images/**/a.jpg       SRC/<split>/labels/**/a.txt          (Roboflow)

Class names come from ``SRC/data.yaml`` (``names:`` list or ``{id: name}``), else ``SRC/classes.txt`` or
``SRC/labels/classes.txt`` (one name per line, line n = class id n). A label line is ``cls cx cy w h``
normalised (a polygon ``cls x1 y1 x2 y2 ...`` becomes its bounding box). A line that does not parse is
skipped and reported as ``file:line``; an image without a label file is a negative.

Folders below the images folder (``**``) become part of the output file name (``images/train/sub/a.jpg`` ->
``images/train/sub__a.jpg`` in the output, see `training.importers.output_name`), so a source sub-folder that is
itself called ``images`` cannot hide the labels from ultralytics. Below such a folder a label is also looked for
where ultralytics itself would (``images/train/images/a.jpg`` -> ``images/train/labels/a.txt``) if the mirrored
``labels/`` tree has none.
"""

from __future__ import annotations

import math
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from training.importers import (
    ImportReport,
    Progress,
    SourceBox,
    SourceImage,
    assign_split,
    check_fractions,
    check_out_dir,
    clip_box,
    write_import,
)
from training.importers.mapping import LabelMapping
from training.yolo_dataset import IMAGE_SUFFIXES, DatasetError, image_size, label_path_for

SPLIT_ALIASES = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}
_NAME_FILES = ("classes.txt", "labels/classes.txt")


def import_yolo(
    src: Path,
    out_dir: Path,
    mapping: LabelMapping,
    *,
    drop_unmapped: bool = False,
    val_fraction: float = 0.1,
    test_fraction: float = 0.0,
    link: bool = True,
    progress: Progress | None = None,
) -> ImportReport:
    """Import the YOLO folder ``src`` into a new data set folder ``out_dir``; returns what was imported and skipped.

    Source splits are kept when the source has split folders; otherwise ``val_fraction``/``test_fraction``
    of the images (by a hash of the file name) go to val/test. Raises DatasetError for an unreadable source,
    a non-empty ``out_dir``, or source classes without a mapping rule (all listed; see ``drop_unmapped``).
    """
    src = Path(src)
    if not src.is_dir():
        raise DatasetError(f"YOLO source folder not found: {src}")
    check_fractions(val_fraction, test_fraction)
    check_out_dir(out_dir)
    names = read_class_names(src)
    report = ImportReport(source=str(src), out_dir=out_dir)
    images: list[SourceImage] = []
    parts = _split_folders(src)
    _report_strays(src, parts, report)
    for images_dir, labels_dir, split in parts:
        images.extend(_read_folder(src, images_dir, labels_dir, split, names, report, val_fraction, test_fraction))
    if not images:
        raise DatasetError(f"{src}: no images found (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
    return write_import(images, mapping, out_dir, report, drop_unmapped=drop_unmapped, link=link, progress=progress)


def read_class_names(src: Path) -> dict[int, str]:
    """Class id -> name of a YOLO folder, from data.yaml or classes.txt; raises DatasetError if neither is usable."""
    yaml_path = src / "data.yaml"
    if yaml_path.is_file():
        try:
            raw = yaml.safe_load(yaml_path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise DatasetError(f"{yaml_path}: not valid YAML ({exc})") from exc
        return _names_from_yaml(raw, yaml_path)
    for rel in _NAME_FILES:
        path = src / rel
        if path.is_file():
            lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
            while lines and not lines[-1]:
                lines.pop()
            if not lines or not all(lines):
                raise DatasetError(f"{path}: expected one class name per line, without blank lines")
            return dict(enumerate(lines))
    raise DatasetError(f"{src}: no data.yaml or classes.txt giving the class names")


def _names_from_yaml(raw: Any, yaml_path: Path) -> dict[int, str]:
    names = raw.get("names") if isinstance(raw, dict) else None
    if isinstance(names, list) and names:
        return {i: str(n) for i, n in enumerate(names)}
    if isinstance(names, dict) and names:
        try:
            return {int(k): str(v) for k, v in names.items()}
        except (TypeError, ValueError):
            raise DatasetError(f"{yaml_path}: 'names' keys must be class ids, got {list(names)}") from None
    raise DatasetError(f"{yaml_path}: 'names' must be a non-empty list or {{id: name}} mapping")


def _split_folders(src: Path) -> list[tuple[Path, Path, str | None]]:
    """(images folder, labels folder, split or None for hash-assigned) for each part of the source."""
    if (src / "images").is_dir():
        root_images, root_labels = src / "images", src / "labels"
        split_dirs = sorted(d for d in root_images.iterdir() if d.is_dir() and d.name.lower() in SPLIT_ALIASES)
        if not split_dirs:
            return [(root_images, root_labels, None)]
        return [(d, root_labels / d.name, SPLIT_ALIASES[d.name.lower()]) for d in split_dirs]
    parts = sorted(
        d for d in src.iterdir() if d.is_dir() and d.name.lower() in SPLIT_ALIASES and (d / "images").is_dir()
    )
    if parts:
        return [(d / "images", d / "labels", SPLIT_ALIASES[d.name.lower()]) for d in parts]
    raise DatasetError(f"{src}: expected an images/ folder (with labels/ beside it) or <split>/images/ folders")


def _report_strays(src: Path, parts: list[tuple[Path, Path, str | None]], report: ImportReport) -> None:
    """With split folders under images/, an image beside them belongs to no split: report it, don't guess."""
    if parts[0][2] is None or parts[0][0].parent != src / "images":
        return
    covered = [images_dir for images_dir, _, _ in parts]
    for path in sorted((src / "images").rglob("*")):
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not any(d in path.parents for d in covered):
            report.skip(_shown(path, src), "image outside the split folders (train/val/test)")


def _read_folder(
    src: Path,
    images_dir: Path,
    labels_dir: Path,
    split: str | None,
    names: dict[int, str],
    report: ImportReport,
    val_fraction: float,
    test_fraction: float,
) -> list[SourceImage]:
    found = sorted(p for p in images_dir.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    out: list[SourceImage] = []
    used_labels: set[Path] = set()
    for path in found:
        rel = PurePosixPath(path.relative_to(images_dir).as_posix())
        label = labels_dir / Path(*rel.parts).with_suffix(".txt")
        if not label.is_file() and label_path_for(path).is_file():
            # Below a sub-folder called "images", ultralytics (which the source was likely made for) looks for the
            # label beside that folder, not in the mirrored labels/ tree; the two agree in every other layout.
            label = label_path_for(path)
        used_labels.add(label)
        try:
            image_size(path)
        except DatasetError as exc:
            report.skip(_shown(path, src), f"unreadable image ({exc.__cause__ or exc})")
            continue
        boxes = _read_labels(label, names, src, report) if label.is_file() else ()
        target = split or assign_split(path.name, val_fraction, test_fraction)
        out.append(SourceImage(path=path, split=target, rel=rel, boxes=boxes))
    if labels_dir.is_dir():
        for label in sorted(labels_dir.rglob("*.txt")):
            if label not in used_labels and label.name != "classes.txt":
                report.skip(_shown(label, src), "label file without an image")
    return out


def _read_labels(label: Path, names: dict[int, str], src: Path, report: ImportReport) -> tuple[SourceBox, ...]:
    boxes: list[SourceBox] = []
    try:
        text = label.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        report.skip(_shown(label, src), "label file is not UTF-8 text")
        return ()
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parsed = parse_label_line(line, names)
        where = f"{_shown(label, src)}:{lineno}"
        if isinstance(parsed, str):
            report.skip(where, parsed)
            continue
        name, x1, y1, x2, y2 = parsed
        box, clipped = clip_box(name, x1, y1, x2, y2)
        report.clipped += clipped
        if box is None:
            report.skip(where, "box lies outside the image")
            continue
        boxes.append(box)
    return tuple(boxes)


def parse_label_line(line: str, names: dict[int, str]) -> tuple[str, float, float, float, float] | str:
    """(class name, x1, y1, x2, y2) normalised, from one label line; or the reason it is malformed."""
    fields = line.split()
    try:
        cls_value = float(fields[0])
        coords = [float(v) for v in fields[1:]]
    except ValueError:
        return "not numbers"
    if not cls_value.is_integer():
        return f"class id {fields[0]!r} is not an integer"
    if int(cls_value) not in names:
        return f"class id {int(cls_value)} not in the source's class names"
    if not all(math.isfinite(v) for v in coords):
        return "coordinates not finite"
    if len(coords) == 4:
        cx, cy, w, h = coords
        if not (0.0 <= cx <= 1.0 and 0.0 <= cy <= 1.0 and 0.0 <= w <= 1.0 and 0.0 <= h <= 1.0):
            return "coordinates not normalised to [0, 1]"
        if w == 0.0 or h == 0.0:
            return "box has zero size"
        return names[int(cls_value)], cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2
    if len(coords) >= 6 and len(coords) % 2 == 0:
        xs, ys = coords[0::2], coords[1::2]
        if min(coords) < 0.0 or max(coords) > 1.0:
            return "coordinates not normalised to [0, 1]"
        if max(xs) == min(xs) or max(ys) == min(ys):
            return "box has zero size"
        return names[int(cls_value)], min(xs), min(ys), max(xs), max(ys)
    return f"expected 'cls cx cy w h' (or a polygon), got {len(fields)} values"


def _shown(path: Path, src: Path) -> str:
    """A path as the report shows it: relative to the source folder, so it reads like the user's own tree."""
    try:
        return path.relative_to(src).as_posix()
    except ValueError:
        return str(path)
