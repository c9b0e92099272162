"""Assembling the retraining data: base + imported + reviewed data sets as one ultralytics data set.

Layout written under ``out`` (a new or empty folder)::

    <out>/dataset/images/<train|val>/<source>/<NNNNNN>_<stem>[_r<k>].<ext>   hard links (copies across devices)
    <out>/dataset/labels/<train|val>/<source>/...                          the label files, linked likewise
    <out>/dataset/data.yaml, manifest.json                                 no ``path:`` key: splits resolve here
    <out>/review_holdout/images/test/..., labels/test/..., data.yaml        reviewed frames held back (if any)

Sources are named ``base``, ``import1``, ``import2`` ... and ``reviews``. Each source's train split goes to train
and its val split to val (a ``test`` split is left out: it is that source's own hold-out). Reviewed train frames
are written ``review_weight`` times (``_r1``, ``_r2`` ... copies), so they weigh that much more in every epoch.
A reviewed frame (of either split) is held back from training when the sha256 of its image bytes maps below
``review_holdout`` (``int(sha256[:8], 16) / 2**32``): the choice depends on the frame alone, so a frame stays in
the held-back slice as more reviews arrive. Frames of the frozen hold-out set must not appear in the assembled
data (compared by image sha256): that would let the gate grade a model on what it trained on.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from training.evaluate import check_names
from training.manifest import Manifest, write_manifest
from training.yolo_dataset import IMAGE_SUFFIXES, DatasetError, YoloDataset, label_path_for, list_samples, load_dataset
from vision.dataset_manifest import file_sha256
from vision.taxonomy import Taxonomy

TRAIN_SPLITS = ("train", "val")
REVIEW_HOLDOUT_SPLIT = "test"


@dataclass(frozen=True)
class Source:
    """One input data set and the name its files get in the assembled one."""

    name: str
    path: Path
    reviewed: bool = False


@dataclass
class SourceCounts:
    """Images taken from one source (before oversampling), per destination."""

    train: int = 0
    val: int = 0
    held_back: int = 0
    left_out: int = 0  # images of splits that are not trained on (a source's own test split)

    def to_dict(self) -> dict[str, int]:
        return {"train": self.train, "val": self.val, "held_back": self.held_back, "left_out": self.left_out}


@dataclass(frozen=True)
class AssembledData:
    """What `assemble` wrote."""

    dataset_dir: Path
    manifest: Manifest
    review_holdout_dir: Path | None
    counts: dict[str, SourceCounts] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.dataset_dir),
            "hash": self.manifest.content_hash,
            "images": {split: c.images for split, c in self.manifest.splits.items()},
            "sources": {name: c.to_dict() for name, c in self.counts.items()},
            "review_holdout": None if self.review_holdout_dir is None else str(self.review_holdout_dir),
        }


def sources_of(base: Path, imports: Sequence[Path], reviews: Path | None) -> list[Source]:
    """The named sources of a retraining run, in a fixed order."""
    found = [Source("base", base)] + [Source(f"import{i}", p) for i, p in enumerate(imports, start=1)]
    if reviews is not None:
        found.append(Source("reviews", reviews, reviewed=True))
    return found


def held_back(image_sha256: str, fraction: float) -> bool:
    """Whether a reviewed frame with this image hash belongs to the held-back evaluation slice."""
    return int(image_sha256[:8], 16) / 2**32 < fraction


def _split_images(dataset: YoloDataset, split: str) -> list[Path]:
    """The images of a split, labels validated; [] for an undeclared split or one whose folders hold no image."""
    if split not in dataset.splits:
        return []
    try:
        return [s.image_path for s in list_samples(dataset, split)]
    except DatasetError:
        sources = dataset.splits[split]
        empty = all(s.is_dir() and not any(p.suffix.lower() in IMAGE_SUFFIXES for p in s.rglob("*")) for s in sources)
        if empty:  # e.g. `qc dataset from-reviews` with too few frames for a val split
            return []
        raise


def _place(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:  # another file system, or links not allowed: copy
        shutil.copyfile(src, dst)


def _write_pair(image: Path, out_root: Path, split: str, source: str, name: str) -> None:
    """Place an image and (if it has one) its label file in ``out_root`` under ``split/source/name``."""
    _place(image, out_root / "images" / split / source / f"{name}{image.suffix.lower()}")
    label = label_path_for(image)
    if label.is_file():
        _place(label, out_root / "labels" / split / source / f"{name}.txt")


def _write_yaml(root: Path, splits: Sequence[str], taxonomy: Taxonomy, comment: str) -> None:
    data: dict[str, Any] = {s: f"images/{s}" for s in splits}
    data["names"] = dict(enumerate(taxonomy.class_names))
    for s in splits:
        (root / "images" / s).mkdir(parents=True, exist_ok=True)
        (root / "labels" / s).mkdir(parents=True, exist_ok=True)
    (root / "data.yaml").write_text(f"# {comment}\n" + yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def _holdout_hashes(holdout: Path | None) -> dict[str, Path]:
    if holdout is None:
        return {}
    dataset = load_dataset(holdout)
    return {file_sha256(s.image_path): s.image_path for s in list_samples(dataset, "all")}


def assemble(
    sources: Sequence[Source],
    out: Path,
    taxonomy: Taxonomy,
    *,
    review_weight: int = 3,
    review_holdout: float = 0.2,
    frozen_holdout: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> AssembledData:
    """Write the assembled data set (and the held-back review slice) under ``out``; see the module doc.

    Raises DatasetError for a missing or malformed source, class names that differ from the taxonomy, an empty
    train or val split, or frozen hold-out frames found in the assembled data.
    """
    if review_weight < 1:
        raise DatasetError(f"--review-weight must be at least 1, got {review_weight}")
    if not 0.0 <= review_holdout < 1.0:
        raise DatasetError(f"--review-holdout must be in [0, 1), got {review_holdout}")
    say = progress or (lambda _msg: None)
    frozen = _holdout_hashes(frozen_holdout)
    dataset_dir, holdout_dir = out / "dataset", out / "review_holdout"
    counts: dict[str, SourceCounts] = {}
    held: list[tuple[Path, str]] = []
    leaks: list[str] = []
    for source in sources:
        dataset = load_dataset(source.path)
        check_names(dataset, taxonomy, "in use")
        tally = counts.setdefault(source.name, SourceCounts())
        tally.left_out = sum(len(_split_images(dataset, s)) for s in dataset.splits if s not in TRAIN_SPLITS)
        for split in TRAIN_SPLITS:
            for i, image in enumerate(_split_images(dataset, split)):
                digest = file_sha256(image)
                if digest in frozen:
                    leaks.append(f"{image} = {frozen[digest]}")
                name = f"{i:06d}_{image.stem}"
                if source.reviewed and held_back(digest, review_holdout):
                    held.append((image, f"{split}_{name}"))
                    tally.held_back += 1
                    continue
                copies = review_weight if source.reviewed and split == "train" else 1
                for k in range(copies):
                    _write_pair(image, dataset_dir, split, source.name, name if k == 0 else f"{name}_r{k}")
                setattr(tally, split, getattr(tally, split) + 1)
        say(f"{source.name}: {tally.train} train, {tally.val} val, {tally.held_back} held back ({source.path})")
    if leaks:
        raise DatasetError(
            f"{len(leaks)} frame(s) of the frozen hold-out set are in the training data, e.g. {leaks[0]}; "
            "the hold-out must stay unseen"
        )
    for split in TRAIN_SPLITS:
        if not sum(getattr(c, split) for c in counts.values()):
            raise DatasetError(f"the assembled data set has no {split} images (sources: {', '.join(counts)})")
    _write_yaml(dataset_dir, TRAIN_SPLITS, taxonomy, "Assembled by `qc retrain` (training.retrain_data).")
    manifest = write_manifest(dataset_dir)
    review_dir: Path | None = None
    if held:
        for image, name in held:
            _write_pair(image, holdout_dir, REVIEW_HOLDOUT_SPLIT, "reviews", name)
        _write_yaml(holdout_dir, (REVIEW_HOLDOUT_SPLIT,), taxonomy, "Reviewed frames held back by `qc retrain`.")
        review_dir = holdout_dir
    return AssembledData(dataset_dir=dataset_dir, manifest=manifest, review_holdout_dir=review_dir, counts=counts)
