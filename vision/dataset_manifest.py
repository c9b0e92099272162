"""The data-set manifest format: content hash and counts of an ultralytics-format data set (``manifest.json``).

Pure hashing and counting, shared by `training.manifest` (which reads data sets from disk) and the edge's
`qc dataset from-reviews` (which writes one and must not import training), so both produce the same hash for the
same files.

The content hash is sha256 over, in sorted order, one line per file of every declared split::

    <split> TAB <path relative to the data set root, POSIX, NFC> TAB <sha256 of the file's bytes>

for each image and its label file, after a line with the scheme (``HASH_SCHEME``) and one with the class names.
It depends on the bytes, the relative layout, the split membership and the class names only.
"""

from __future__ import annotations

import hashlib
import json
import os
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

from vision.errors import InputError

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
        """Parse the JSON form; raises InputError naming ``source`` if it is malformed."""
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
            raise InputError(f"{source}: malformed manifest ({exc!r})") from exc


@dataclass(frozen=True)
class ManifestImage:
    """One image of a split as the manifest sees it: relative paths (POSIX, NFC), file digests, its box classes.

    ``label``/``label_sha256`` are None when the image has no label file (a negative, like an empty one).
    """

    image: str
    image_sha256: str
    label: str | None
    label_sha256: str | None
    class_ids: tuple[int, ...]


def relative_name(path: str | os.PathLike[str], root: str | os.PathLike[str]) -> str:
    """``path`` relative to ``root`` as POSIX text, NFC-normalised (macOS hands out decomposed names).

    ValueError when ``path`` lies outside ``root``: a path outside would tie the hash to where the data set lives.
    """
    rel = PurePath(os.path.abspath(path)).relative_to(os.path.abspath(root))
    return unicodedata.normalize("NFC", rel.as_posix())


def bytes_sha256(data: bytes) -> str:
    """Hex sha256 of in-memory file content (what `file_sha256` gives once the bytes are written)."""
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def content_hash(names: Sequence[str], entries: Iterable[tuple[str, str, str]]) -> str:
    """The data set's content hash from its class names and (split, relative path, file sha256) entries."""
    digest = hashlib.sha256()
    digest.update(f"{HASH_SCHEME}\n".encode())
    digest.update(("names\t" + json.dumps(list(names), ensure_ascii=False) + "\n").encode())
    for split, rel, file_hash in sorted(entries):
        digest.update(f"{split}\t{rel}\t{file_hash}\n".encode())
    return digest.hexdigest()


def manifest_of(names: Sequence[str], splits: Mapping[str, Iterable[ManifestImage]]) -> Manifest:
    """The manifest of a data set given per split its images (with label digests and box classes).

    InputError when a box's class id is outside ``names``.
    """
    names = tuple(names)
    entries: list[tuple[str, str, str]] = []
    counts: dict[str, SplitCounts] = {}
    for split, images in splits.items():
        per_class = dict.fromkeys(names, 0)
        n_images = negatives = 0
        for image in images:
            entries.append((split, image.image, image.image_sha256))
            if image.label is not None and image.label_sha256 is not None:
                entries.append((split, image.label, image.label_sha256))
            for cls in image.class_ids:
                if not 0 <= cls < len(names):
                    raise InputError(f"{image.label or image.image}: class id {cls} outside 0..{len(names) - 1}")
                per_class[names[cls]] += 1
            n_images += 1
            negatives += len(image.class_ids) == 0
        counts[split] = SplitCounts(n_images, negatives, sum(per_class.values()), per_class)
    totals = {name: sum(s.instances[name] for s in counts.values()) for name in names}
    return Manifest(
        content_hash=content_hash(names, entries),
        names=names,
        images=sum(s.images for s in counts.values()),
        files=len(entries),
        splits=counts,
        instances=totals,
    )
