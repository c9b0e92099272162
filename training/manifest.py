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

import hashlib
import json
import os
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training.yolo_dataset import (
    IMAGE_SUFFIXES,
    DatasetError,
    YoloDataset,
    label_path_for,
    load_dataset,
    read_label_file,
)

MANIFEST_FILE = "manifest.json"
HASH_SCHEME = "conveyor-qc-dataset/v1"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class SplitCounts:
    """What one split holds: images, images without boxes, boxes, and boxes per class name (every class listed)."""

    images: int
    negatives: int
    boxes: int
    instances: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {"images": self.images, "negatives": self.negatives, "boxes": self.boxes, "instances": self.instances}


@dataclass(frozen=True)
class Manifest:
    """Content hash and counts of a data set; ``instances`` totals boxes per class name over all splits."""

    content_hash: str
    names: tuple[str, ...]
    images: int
    files: int
    splits: dict[str, SplitCounts]
    instances: dict[str, int]
    hash_scheme: str = HASH_SCHEME

    def to_dict(self) -> dict[str, Any]:
        """The JSON form written to ``manifest.json``."""
        return {
            "hash_scheme": self.hash_scheme,
            "content_hash": self.content_hash,
            "names": dict(enumerate(self.names)),
            "images": self.images,
            "files": self.files,
            "splits": {name: counts.to_dict() for name, counts in self.splits.items()},
            "instances": self.instances,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_dict(cls, raw: Any, source: str = "manifest") -> Manifest:
        """Parse the JSON form; raises DatasetError naming ``source`` if it is malformed."""
        try:
            names_raw = raw["names"]
            names = tuple(str(names_raw[k]) for k in sorted(names_raw, key=int))
            splits = {
                str(name): SplitCounts(
                    images=int(s["images"]),
                    negatives=int(s["negatives"]),
                    boxes=int(s["boxes"]),
                    instances={str(k): int(v) for k, v in s["instances"].items()},
                )
                for name, s in raw["splits"].items()
            }
            return cls(
                content_hash=str(raw["content_hash"]),
                names=names,
                images=int(raw["images"]),
                files=int(raw["files"]),
                splits=splits,
                instances={str(k): int(v) for k, v in raw["instances"].items()},
                hash_scheme=str(raw["hash_scheme"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise DatasetError(f"{source}: malformed manifest ({exc!r})") from exc


def build_manifest(dataset_dir: str | os.PathLike[str]) -> Manifest:
    """Hash and count the data set in ``dataset_dir`` (a folder with ``data.yaml``, or the YAML file itself).

    Reads every image and label file once. Raises DatasetError for a missing or malformed data.yaml, a label line
    that does not parse (naming file and line), or a split file outside the data set root.
    """
    # Absolute: yolo_dataset.load_dataset joins a relative data.yaml folder onto itself when `path:` is absent.
    dataset = load_dataset(os.path.abspath(dataset_dir))
    # abspath, not resolve(): a symlinked image inside the folder belongs to the folder.
    root = Path(os.path.abspath(dataset.root))
    entries: list[tuple[str, str, str]] = []
    splits: dict[str, SplitCounts] = {}
    for split, sources in dataset.splits.items():
        per_class = dict.fromkeys(dataset.names, 0)
        images = negatives = 0
        for image in _split_images(sources, dataset):
            entries.append((split, _relative(image, root, dataset), _file_sha256(image)))
            label = label_path_for(image)
            boxes = 0
            if label.is_file():
                entries.append((split, _relative(label, root, dataset), _file_sha256(label)))
                truth = read_label_file(label, len(dataset.names), 1, 1)
                boxes = len(truth)
                for cls in truth.class_id.tolist():
                    per_class[dataset.names[cls]] += 1
            images += 1
            negatives += boxes == 0
        splits[split] = SplitCounts(images, negatives, sum(per_class.values()), per_class)
    totals = {name: sum(s.instances[name] for s in splits.values()) for name in dataset.names}
    return Manifest(
        content_hash=_content_hash(dataset.names, entries),
        names=dataset.names,
        images=sum(s.images for s in splits.values()),
        files=len(entries),
        splits=splits,
        instances=totals,
    )


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
    return Manifest.from_dict(raw, source=str(path))


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


def _content_hash(names: tuple[str, ...], entries: list[tuple[str, str, str]]) -> str:
    digest = hashlib.sha256()
    digest.update(f"{HASH_SCHEME}\n".encode())
    digest.update(("names\t" + json.dumps(list(names), ensure_ascii=False) + "\n").encode())
    for split, rel, file_hash in sorted(entries):
        digest.update(f"{split}\t{rel}\t{file_hash}\n".encode())
    return digest.hexdigest()


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
        rel = Path(os.path.abspath(path)).relative_to(root)
    except ValueError:
        # A path outside the root would tie the hash to where the data set lives on this machine.
        raise DatasetError(f"{dataset.yaml_path}: {path} lies outside the data set root {root}") from None
    # NFC: macOS file systems hand out decomposed names; the same name must hash the same everywhere.
    return unicodedata.normalize("NFC", rel.as_posix())


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
