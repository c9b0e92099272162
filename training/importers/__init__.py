"""Importers of real data sets (YOLO folders, COCO JSON) into the project's ultralytics layout and taxonomy.

Every importer works in two phases, so a mistake in the mapping leaves nothing half-written:
1. parse the source into `SourceImage` values (boxes still carry the source's class names), recording what
   had to be skipped and why in an `ImportReport`;
2. `write_import` checks the mapping covers every source class that occurs, then writes the output into a
   staging folder beside ``<out>`` and renames it into place once complete::

    <out>/images/<split>/<name>      the source image, hard-linked when possible, else copied
    <out>/labels/<split>/<stem>.txt  ``cls cx cy w h``, normalised, 6 decimals; empty for a negative
    <out>/data.yaml                  train/val/test relative to data.yaml's folder (no ``path:`` key, so the
                                     folder can move) and ``names`` from the taxonomy
    <out>/manifest.json              training.manifest: content hash and counts

``<name>`` is the image's path inside the source's images folder flattened into one file name (`output_name`:
``train/sub/x.jpg`` -> ``train__sub__x.jpg``). The output never has folders below ``<split>``: ultralytics (and
``qc eval``) find an image's label by replacing the *last* ``/images/`` of its path with ``/labels/``, so a source
folder called ``images`` kept under the split would send them looking in the wrong place and every label would
go unseen.

The importers themselves live in `training.importers.yolo` and `training.importers.coco`.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from training.importers.mapping import LabelMapping
from training.manifest import Manifest, write_manifest
from training.yolo_dataset import SPLITS, DatasetError

# Called after each image written: (done, total).
Progress = Callable[[int, int], None]
# A corner that leaves the image by less than this is decimal rounding in the source, not a box to clip.
_CLIP_TOLERANCE = 1e-6
# Joins the folders of a source path into one output file name: readable, and rare in real file names.
FLAT_SEP = "__"
# Longest output file name in bytes: under the 255 of common file systems, with room for a uniqueness suffix.
_MAX_NAME_BYTES = 200
# "C:/..." (after backslashes became slashes): a Windows absolute path.
_DRIVE = re.compile(r"^[A-Za-z]:/")


@dataclass(frozen=True)
class SourceBox:
    """One box of a source data set: the source's class name and the corners, normalised to [0, 1]."""

    name: str
    x1: float
    y1: float
    x2: float
    y2: float


@dataclass(frozen=True)
class SourceImage:
    """One source image to import: its file, target split, its path inside the source's images folder, its boxes.

    ``rel`` may have folders; the writer flattens it into the output file name (`output_name`).
    """

    path: Path
    split: str
    rel: PurePosixPath
    boxes: tuple[SourceBox, ...]


@dataclass(frozen=True)
class Skipped:
    """Something left out of the import: where (``file:line``, an image, an annotation id) and why."""

    where: str
    reason: str


@dataclass
class ImportReport:
    """What an import did. Filled in while it runs; ``manifest`` is set once the output is written."""

    source: str
    out_dir: Path
    images: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SPLITS, 0))
    negatives: int = 0
    boxes: dict[str, int] = field(default_factory=dict)
    ignored: Counter[str] = field(default_factory=Counter)
    dropped_unmapped: Counter[str] = field(default_factory=Counter)
    crowd: int = 0
    clipped: int = 0
    linked: int = 0
    copied: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    manifest: Manifest | None = None

    def skip(self, where: str, reason: str) -> None:
        self.skipped.append(Skipped(where, reason))

    @property
    def skipped_by_reason(self) -> dict[str, int]:
        """How many items were skipped for each reason, most frequent first."""
        return dict(Counter(s.reason for s in self.skipped).most_common())

    def to_dict(self) -> dict[str, Any]:
        """The JSON form printed by ``qc dataset import-* --json``."""
        return {
            "source": self.source,
            "out_dir": str(self.out_dir),
            "images": self.images,
            "negatives": self.negatives,
            "boxes": self.boxes,
            "ignored": dict(sorted(self.ignored.items())),
            "dropped_unmapped": dict(sorted(self.dropped_unmapped.items())),
            "crowd": self.crowd,
            "clipped": self.clipped,
            "linked": self.linked,
            "copied": self.copied,
            "skipped": [{"where": s.where, "reason": s.reason} for s in self.skipped],
            "warnings": self.warnings,
            "content_hash": self.manifest.content_hash if self.manifest else None,
        }


def check_fractions(val_fraction: float, test_fraction: float) -> None:
    """Raise DatasetError unless both fractions lie in [0, 1) and leave something for train."""
    for name, value in (("--val-fraction", val_fraction), ("--test-fraction", test_fraction)):
        if not 0.0 <= value < 1.0:
            raise DatasetError(f"{name} must be in [0, 1), got {value}")
    if val_fraction + test_fraction >= 1.0:
        raise DatasetError(
            f"--val-fraction + --test-fraction must be < 1 (train needs images), got {val_fraction + test_fraction}"
        )


def assign_split(file_name: str, val_fraction: float, test_fraction: float) -> str:
    """Deterministic split of an image from its file name: the same name lands in the same split on every run."""
    # sha1 of the name, not random: re-importing a grown data set keeps every old image in its old split.
    u = int(hashlib.sha1(file_name.encode("utf-8")).hexdigest()[:8], 16) / 2**32
    if u < test_fraction:
        return "test"
    if u < test_fraction + val_fraction:
        return "val"
    return "train"


def check_out_dir(out_dir: Path) -> None:
    """Refuse an output folder that already holds something: an import never mixes with or overwrites data."""
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise DatasetError(f"output folder {out_dir} exists and is not empty; choose a new folder")


def clip_box(name: str, x1: float, y1: float, x2: float, y2: float) -> tuple[SourceBox | None, bool]:
    """Clip normalised corners to the image: (box, clipped?); box is None when nothing of it is left inside."""
    cx1, cy1, cx2, cy2 = (min(max(v, 0.0), 1.0) for v in (x1, y1, x2, y2))
    clipped = max(abs(cx1 - x1), abs(cy1 - y1), abs(cx2 - x2), abs(cy2 - y2)) > _CLIP_TOLERANCE
    if cx2 - cx1 <= 0.0 or cy2 - cy1 <= 0.0:
        return None, clipped
    return SourceBox(name, cx1, cy1, cx2, cy2), clipped


def safe_relative(name: str, where: str) -> PurePosixPath:
    """A source-supplied file name as a path relative to the source's images folder; ``where`` names it in errors.

    Backslashes count as separators (exports from Windows tools); ``.`` and empty parts are dropped. Raises
    DatasetError for an absolute path or one with ``..``: either points outside the folder the user named, and
    guessing what was meant could import the wrong files.
    """
    text = name.replace("\\", "/")
    if text.startswith("/") or _DRIVE.match(text):
        raise DatasetError(f"{where}: file name {name!r} is an absolute path; it must be relative to the images folder")
    parts = [part for part in text.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise DatasetError(f"{where}: file name {name!r} contains '..'; it must stay inside the images folder")
    if not parts:
        raise DatasetError(f"{where}: file name {name!r} names no file")
    return PurePosixPath(*parts)


def output_name(rel: PurePosixPath) -> str:
    """The file name an image gets in ``images/<split>/``: its source path with the folders joined by ``__``.

    ``x.jpg`` stays ``x.jpg``; ``images/x.jpg`` becomes ``images__x.jpg`` and ``train/sub/x.jpg``
    ``train__sub__x.jpg`` (see the module docstring for why nothing may stay a folder). A name longer than a file
    system allows keeps its end, the source's own file name, behind a hash of the whole path.
    """
    name = FLAT_SEP.join(rel.parts)
    encoded = name.encode("utf-8")
    if len(encoded) <= _MAX_NAME_BYTES:
        return name
    digest = hashlib.sha1(encoded).hexdigest()[:10]
    keep = _MAX_NAME_BYTES - len(digest) - len(FLAT_SEP)
    # Cutting bytes may split a multi-byte character at the front: drop its remains.
    tail = encoded[-keep:].decode("utf-8", errors="ignore")
    return f"{digest}{FLAT_SEP}{tail}"


def _disambiguated(name: str, rel: PurePosixPath) -> str:
    """``name`` with a short hash of the source path before the suffix: unique where flattening made two alike."""
    path = PurePosixPath(name)
    digest = hashlib.sha1(rel.as_posix().encode("utf-8")).hexdigest()[:8]
    return f"{path.stem}-{digest}{path.suffix}"


def write_import(
    images: list[SourceImage],
    mapping: LabelMapping,
    out_dir: Path,
    report: ImportReport,
    *,
    drop_unmapped: bool = False,
    link: bool = True,
    progress: Progress | None = None,
) -> ImportReport:
    """Map the boxes onto the taxonomy and write the data set, data.yaml and manifest.json; returns ``report``.

    Raises DatasetError listing every source class without a rule (unless ``drop_unmapped``) before writing anything.
    """
    if not drop_unmapped:
        mapping.require_mapped((b.name for img in images for b in img.boxes), report.source)
    check_out_dir(out_dir)
    # Written next to the target and renamed at the end: an import that fails half-way leaves no half data set.
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = out_dir.parent / f".{out_dir.name}.importing-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    try:
        _write_files(images, mapping, staging, report, link, progress)
        if out_dir.exists():
            out_dir.rmdir()  # empty, as check_out_dir made sure
        staging.rename(out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    report.manifest = write_manifest(out_dir)
    return report


def _write_files(
    images: list[SourceImage],
    mapping: LabelMapping,
    out_dir: Path,
    report: ImportReport,
    link: bool,
    progress: Progress | None,
) -> None:
    names = mapping.taxonomy.class_names
    boxes_per_class = Counter[int]()
    # (split, output stem) -> the source path (without suffix) that took it: one label file per output stem.
    claimed: dict[tuple[str, str], PurePosixPath] = {}
    renamed: list[tuple[PurePosixPath, str]] = []
    for done, image in enumerate(images, start=1):
        source_stem = image.rel.with_suffix("")
        name = output_name(image.rel)
        owner = claimed.get((image.split, PurePosixPath(name).stem))
        if owner is not None and owner != source_stem:
            # Distinct source paths that only flattening made alike ("a/b.jpg" and "a__b.jpg"): keep both.
            name = _disambiguated(name, image.rel)
            renamed.append((image.rel, name))
            owner = claimed.get((image.split, PurePosixPath(name).stem))
        if owner is not None:
            # Two sources for one label file (a.jpg and a.png, or a repeated COCO file_name): keep the first.
            report.skip(str(image.path), f"another image already uses the name {source_stem} in {image.split}")
            continue
        claimed[(image.split, PurePosixPath(name).stem)] = source_stem
        lines = []
        for box in image.boxes:
            if box.name not in mapping.rules:
                report.dropped_unmapped[box.name] += 1
                continue
            class_id = mapping.class_id(box.name)
            if class_id is None:
                report.ignored[box.name] += 1
                continue
            boxes_per_class[class_id] += 1
            lines.append(_label_line(class_id, box))
        image_out = out_dir / "images" / image.split / name
        label_out = out_dir / "labels" / image.split / PurePosixPath(name).with_suffix(".txt")
        image_out.parent.mkdir(parents=True, exist_ok=True)
        label_out.parent.mkdir(parents=True, exist_ok=True)
        if _place(image.path, image_out, link):
            report.linked += 1
        else:
            report.copied += 1
        label_out.write_text("".join(lines), encoding="utf-8")
        report.images[image.split] += 1
        report.negatives += not lines
        if progress:
            progress(done, len(images))
    report.boxes = {names[i]: boxes_per_class[i] for i in range(len(names)) if boxes_per_class[i]}
    if renamed:
        rel, name = renamed[0]
        report.warnings.append(
            f"{len(renamed)} image(s) got a hash in their name because their flattened names collided "
            f"(e.g. {rel} -> {name})"
        )
    _write_data_yaml(out_dir, names, report)


def _label_line(class_id: int, box: SourceBox) -> str:
    cx, cy = (box.x1 + box.x2) / 2, (box.y1 + box.y2) / 2
    return f"{class_id} {cx:.6f} {cy:.6f} {box.x2 - box.x1:.6f} {box.y2 - box.y1:.6f}\n"


def _place(src: Path, dst: Path, link: bool) -> bool:
    """Hard-link ``src`` to ``dst`` if asked and possible (same file system), else copy; True if linked."""
    if link:
        try:
            os.link(src, dst)
            return True
        except OSError:
            pass  # another file system, or links not allowed there: a copy is always possible
    shutil.copyfile(src, dst)
    return False


def _write_data_yaml(out_dir: Path, names: tuple[str, ...], report: ImportReport) -> None:
    for split in SPLITS:
        (out_dir / "images" / split).mkdir(parents=True, exist_ok=True)
        (out_dir / "labels" / split).mkdir(parents=True, exist_ok=True)
    if report.images["train"] == 0:
        report.warnings.append("the train split is empty: ultralytics cannot train on this data set")
    if report.images["val"] == 0:
        report.warnings.append("the val split is empty: ultralytics needs val images (raise --val-fraction)")
    data: dict[str, Any] = {"train": "images/train", "val": "images/val"}
    if report.images["test"]:
        # Declared only when it holds images: evaluating an empty test split would fail.
        data["test"] = "images/test"
    data["names"] = dict(enumerate(names))
    header = (
        "# Written by `qc dataset import-*`. No `path:` key on purpose: ultralytics then resolves the splits\n"
        "# against this file's folder, so the data set can be moved or copied as a whole.\n"
    )
    text = header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    (out_dir / "data.yaml").write_text(text, encoding="utf-8")
