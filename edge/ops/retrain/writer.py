"""Write the reviewed frames as an ultralytics-format data set with the project's manifest.

    <out>/images/<train|val>/<camera>_<seq>.jpg   the frame's JPEG bytes exactly as the service stored them
    <out>/labels/<train|val>/<camera>_<seq>.txt   corrected labels (edge.ops.retrain.labels), empty for a negative
    <out>/data.yaml                               names from the taxonomy, splits relative to it (no ``path:``)
    <out>/manifest.json                           content hash + counts (vision.dataset_manifest: same as training's)
    <out>/reviews.json                            provenance: store, frames written and skipped (with reasons)

The split of a frame follows from its file name (sha1), so re-exporting a store that has grown keeps every old
frame in its old split and val never leaks into train. The output is a function of the store's content: two
exports of the same store are byte-identical.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

from edge.ops.retrain.labels import UnlabelableFrame, frame_labels, label_text
from edge.store.review_samples import ReviewSample
from vision.dataset_manifest import MANIFEST_FILE, Manifest, ManifestImage, bytes_sha256, manifest_of
from vision.errors import InputError
from vision.taxonomy import Taxonomy

SPLITS = ("train", "val")
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


@dataclass
class FromReviewsReport:
    """What was written: frames per split, boxes per class, and frames skipped with the reason."""

    out: str
    store: str
    frames: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SPLITS, 0))
    skipped: dict[str, str] = field(default_factory=dict)  # file stem -> reason
    warnings: list[str] = field(default_factory=list)
    manifest: Manifest | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form (also written to reviews.json, without the manifest)."""
        return {
            "out": self.out,
            "store": self.store,
            "frames": self.frames,
            "skipped": self.skipped,
            "warnings": self.warnings,
            "content_hash": None if self.manifest is None else self.manifest.content_hash,
            "instances": None if self.manifest is None else self.manifest.instances,
        }


def frame_stem(camera_id: str, seq: int) -> str:
    """A file-system-safe, unique name for frame (camera_id, seq)."""
    safe = _UNSAFE.sub("_", camera_id)
    if safe != camera_id:  # two camera ids that differ only in unsafe characters must not collide
        safe += "-" + hashlib.sha1(camera_id.encode("utf-8")).hexdigest()[:8]
    return f"{safe}_{seq:010d}"


def _split_value(stem: str) -> float:
    return int(hashlib.sha1(stem.encode("utf-8")).hexdigest()[:8], 16) / 2**32


def check_out_dir(out: Path) -> None:
    """Refuse an output folder that already holds something: an export never mixes with or overwrites data."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(f"output folder {out} exists and is not empty; choose a new folder")


def write_from_reviews(
    samples: Iterable[ReviewSample],
    out: Path,
    taxonomy: Taxonomy,
    *,
    store_url: str,
    val_fraction: float = 0.2,
    progress: Callable[[int], None] | None = None,
) -> FromReviewsReport:
    """Write every sample frame with its corrected labels to ``out`` (a new or empty folder); returns the report.

    InputError for a bad ``val_fraction``, a non-empty ``out`` or when no frame could be written.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise InputError(f"--val-fraction must be in [0, 1), got {val_fraction}")
    check_out_dir(out)
    report = FromReviewsReport(out=str(out), store=store_url)
    written: list[tuple[str, bytes, str, tuple[int, ...]]] = []  # stem, jpeg, label text, class ids
    for n, sample in enumerate(samples, start=1):
        stem = frame_stem(sample.frame.camera_id, sample.frame.seq)
        image = cv2.imdecode(np.frombuffer(sample.frame.jpeg, np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            report.skipped[stem] = "the stored JPEG does not decode"
            continue
        # The decoded size is the truth: the detector's boxes are in the pixels of the image it decoded.
        height, width = image.shape[:2]
        try:
            labels = frame_labels(sample, taxonomy, width, height)
        except UnlabelableFrame as exc:
            report.skipped[stem] = str(exc)
            continue
        written.append((stem, sample.frame.jpeg, label_text(labels, width, height), tuple(x.class_id for x in labels)))
        if progress is not None:
            progress(n)
    if not written:
        raise InputError("no reviewed frame to write: review flags whose best frame the service stored first")
    splits = _assign_splits([stem for stem, *_ in written], val_fraction, report)
    images: dict[str, list[ManifestImage]] = {s: [] for s in SPLITS}
    for stem, jpeg, text, class_ids in written:
        split = splits[stem]
        image_rel, label_rel = f"images/{split}/{stem}.jpg", f"labels/{split}/{stem}.txt"
        label_bytes = text.encode("utf-8")
        for rel, data in ((image_rel, jpeg), (label_rel, label_bytes)):
            path = out / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        images[split].append(
            ManifestImage(image_rel, bytes_sha256(jpeg), label_rel, bytes_sha256(label_bytes), class_ids)
        )
        report.frames[split] += 1
    for split in SPLITS:
        (out / "images" / split).mkdir(parents=True, exist_ok=True)
        (out / "labels" / split).mkdir(parents=True, exist_ok=True)
    names = taxonomy.class_names
    header = (
        "# Written by `qc dataset from-reviews`: reviewed frames with the reviewers' corrections. No `path:` key on\n"
        "# purpose: ultralytics then resolves the splits against this file's folder, so the folder can be moved.\n"
    )
    data = {"train": "images/train", "val": "images/val", "names": dict(enumerate(names))}
    (out / "data.yaml").write_text(header + yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    report.manifest = manifest_of(names, images)
    (out / MANIFEST_FILE).write_text(report.manifest.to_json(), encoding="utf-8")
    (out / "reviews.json").write_text(json.dumps(report.to_dict(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return report


def _assign_splits(stems: list[str], val_fraction: float, report: FromReviewsReport) -> dict[str, str]:
    splits = {s: ("val" if _split_value(s) < val_fraction else "train") for s in stems}
    counts = Counter(splits.values())
    if val_fraction > 0 and counts["val"] == 0 and len(stems) >= 2:
        # ultralytics needs val images: the frame that is closest to the val range goes there (deterministic).
        splits[min(stems, key=_split_value)] = "val"
    elif counts["train"] == 0 and len(stems) >= 2:
        splits[max(stems, key=_split_value)] = "train"
    counts = Counter(splits.values())
    if counts["train"] == 0:
        report.warnings.append("the train split is empty: ultralytics cannot train on this data set")
    if counts["val"] == 0:
        report.warnings.append("the val split is empty: ultralytics needs val images (review more frames)")
    return splits
