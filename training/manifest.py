"""The data-set manifest: a content hash and counts of an ultralytics-format data set, stored as ``manifest.json``.

The content hash identifies what a model was trained on (model cards record it as the data set hash). It is
sha256 over, in sorted order, one line per file of every declared split::

    <split> TAB <path relative to the data set root, POSIX, NFC> TAB <sha256 of the file's bytes>

for each image and its label file, after a line with the scheme (``HASH_SCHEME``) and one with the class names.
So it depends on the bytes, the relative layout, the split membership and the class names only: not on
mtimes, creation order, the machine or where the folder lives. ``data.yaml``'s other keys, ``manifest.json``
itself and ultralytics' ``*.cache`` files are not part of it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from training.yolo_dataset import (
    IMAGE_SUFFIXES,
    DatasetError,
    YoloDataset,
    label_path_for,
    load_dataset,
    read_label_file,
)
from vision.dataset_manifest import (
    HASH_SCHEME,
    MANIFEST_FILE,
    Manifest,
    ManifestImage,
    SplitCounts,
    file_sha256,
    manifest_of,
    relative_name,
)
from vision.errors import InputError

__all__ = [
    "HASH_SCHEME",
    "MANIFEST_FILE",
    "Manifest",
    "SplitCounts",
    "build_manifest",
    "dataset_hash",
    "read_manifest",
    "verify_manifest",
    "write_manifest",
]


def build_manifest(dataset_dir: str | os.PathLike[str]) -> Manifest:
    """Hash and count the data set in ``dataset_dir`` (a folder with ``data.yaml``, or the YAML file itself).

    Reads every image and label file once. Raises DatasetError for a missing or malformed data.yaml, a label line
    that does not parse (naming file and line), or a split file outside the data set root.
    """
    # Absolute: yolo_dataset.load_dataset joins a relative data.yaml folder onto itself when `path:` is absent.
    dataset = load_dataset(os.path.abspath(dataset_dir))
    # abspath, not resolve(): a symlinked image inside the folder belongs to the folder.
    root = Path(os.path.abspath(dataset.root))
    splits: dict[str, list[ManifestImage]] = {}
    for split, sources in dataset.splits.items():
        images = splits.setdefault(split, [])
        for image in _split_images(sources, dataset):
            label = label_path_for(image)
            label_rel = label_sha = None
            class_ids: tuple[int, ...] = ()
            if label.is_file():
                label_rel, label_sha = _relative(label, root, dataset), file_sha256(label)
                class_ids = tuple(read_label_file(label, len(dataset.names), 1, 1).class_id.tolist())
            images.append(
                ManifestImage(_relative(image, root, dataset), file_sha256(image), label_rel, label_sha, class_ids)
            )
    return manifest_of(dataset.names, splits)


def write_manifest(dataset_dir: Path) -> Manifest:
    """Build the manifest of the data set folder ``dataset_dir`` and write it to ``dataset_dir/manifest.json``."""
    manifest = build_manifest(dataset_dir)
    (Path(dataset_dir) / MANIFEST_FILE).write_text(manifest.to_json(), encoding="utf-8")
    return manifest


def read_manifest(dataset_dir: str | os.PathLike[str]) -> Manifest:
    """The stored ``manifest.json`` of a data set folder (not re-computed)."""
    path = Path(dataset_dir) / MANIFEST_FILE
    if not path.is_file():
        raise DatasetError(f"no {MANIFEST_FILE} in {dataset_dir}; write one with `qc dataset manifest --write`")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: not valid JSON ({exc})") from exc
    try:
        return Manifest.from_dict(raw, source=str(path))
    except InputError as exc:
        raise DatasetError(str(exc)) from exc


def verify_manifest(dataset_dir: str | os.PathLike[str]) -> Manifest:
    """Re-compute the manifest and compare it with the stored one; raises DatasetError if the content changed."""
    stored = read_manifest(dataset_dir)
    current = build_manifest(dataset_dir)
    if stored.hash_scheme != current.hash_scheme:
        raise DatasetError(
            f"{dataset_dir}: {MANIFEST_FILE} uses hash scheme {stored.hash_scheme!r}, this version computes "
            f"{current.hash_scheme!r}; re-write it with `qc dataset manifest --write`"
        )
    if stored.content_hash != current.content_hash:
        raise DatasetError(
            f"{dataset_dir}: content changed since {MANIFEST_FILE} was written "
            f"(stored {stored.content_hash[:12]}, now {current.content_hash[:12]})"
        )
    return current


def dataset_hash(dataset_dir: str | os.PathLike[str]) -> str:
    """The content hash (64 hex digits) of a data set folder, computed from its files."""
    return build_manifest(dataset_dir).content_hash


def _split_images(sources: tuple[Path, ...], dataset: YoloDataset) -> list[Path]:
    found: set[Path] = set()
    for source in sources:
        if source.is_dir():
            found.update(p for p in source.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        elif source.is_file() and source.suffix == ".txt":
            # An image list, one path per line relative to the list's folder (ultralytics' convention).
            for line in source.read_text().splitlines():
                if line.strip():
                    p = Path(line.strip())
                    found.add(p if p.is_absolute() else source.parent / p)
        else:
            raise DatasetError(f"{dataset.yaml_path}: split source {source} is neither a folder nor a .txt image list")
    missing = sorted(p for p in found if not p.is_file())
    if missing:
        raise DatasetError(f"{dataset.yaml_path}: {len(missing)} listed image(s) missing, e.g. {missing[0]}")
    return sorted(found)


def _relative(path: Path, root: Path, dataset: YoloDataset) -> str:
    try:
        return relative_name(path, root)
    except ValueError:
        # A path outside the root would tie the hash to where the data set lives on this machine.
        raise DatasetError(f"{dataset.yaml_path}: {path} lies outside the data set root {root}") from None
