"""Data-set manifest: a content hash that follows the content only, and counts per split and class."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from training.importers.mapping import parse_mapping
from training.importers.yolo import import_yolo
from training.manifest import (
    MANIFEST_FILE,
    Manifest,
    build_manifest,
    dataset_hash,
    read_manifest,
    verify_manifest,
    write_manifest,
)
from training.yolo_dataset import DatasetError
from vision.taxonomy import Taxonomy

NAMES = ["apple_fresh", "apple_rotten", "banana_fresh"]
# split -> stem -> label text (None: no label file)
CONTENT: dict[str, dict[str, str | None]] = {
    "train": {"a": "0 0.5 0.5 0.2 0.2\n1 0.3 0.3 0.1 0.1\n", "b": "0 0.4 0.4 0.2 0.2\n", "c": None},
    "val": {"d": "2 0.5 0.5 0.3 0.3\n", "e": ""},
}


def _write(root: Path, order: list[tuple[str, str]], mtime: float) -> Path:
    """Write the CONTENT data set, creating its files in ``order`` and stamping every file with ``mtime``."""
    for split, stem in order:
        image = np.full((32, 40, 3), 10 * (ord(stem) - ord("a")), np.uint8)
        image_path = root / "images" / split / f"{stem}.png"
        image_path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(image_path), image)
        os.utime(image_path, (mtime, mtime))
        labels = CONTENT[split][stem]
        if labels is not None:
            label_path = root / "labels" / split / f"{stem}.txt"
            label_path.parent.mkdir(parents=True, exist_ok=True)
            label_path.write_text(labels)
            os.utime(label_path, (mtime, mtime))
    (root / "data.yaml").write_text(yaml.safe_dump({"train": "images/train", "val": "images/val", "names": NAMES}))
    return root


ORDER = [(split, stem) for split, stems in CONTENT.items() for stem in stems]


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    return _write(tmp_path / "ds", ORDER, mtime=1_000_000)


def test_counts_per_split_and_class(dataset: Path) -> None:
    m = build_manifest(dataset)
    assert m.names == tuple(NAMES) and m.images == 5 and m.files == 9
    assert m.splits["train"].to_dict() == {
        "images": 3,
        "negatives": 1,
        "boxes": 3,
        "instances": {"apple_fresh": 2, "apple_rotten": 1, "banana_fresh": 0},
    }
    assert m.splits["val"].to_dict() == {
        "images": 2,
        "negatives": 1,
        "boxes": 1,
        "instances": {"apple_fresh": 0, "apple_rotten": 0, "banana_fresh": 1},
    }
    assert m.instances == {"apple_fresh": 2, "apple_rotten": 1, "banana_fresh": 1}
    assert len(m.content_hash) == 64 and m.content_hash == dataset_hash(dataset)


def test_hash_ignores_creation_order_mtime_location_and_non_content_files(tmp_path: Path, dataset: Path) -> None:
    reference = dataset_hash(dataset)
    other = _write(tmp_path / "elsewhere" / "copy", list(reversed(ORDER)), mtime=2_000_000)
    assert dataset_hash(other) == reference
    moved = shutil.move(str(dataset), str(tmp_path / "moved"))
    assert dataset_hash(moved) == reference
    # What ultralytics and we write next to the content does not count.
    (Path(moved) / "labels" / "train.cache").write_bytes(b"cache")
    write_manifest(Path(moved))
    data = yaml.safe_load((Path(moved) / "data.yaml").read_text())
    (Path(moved) / "data.yaml").write_text("# a comment\n" + yaml.safe_dump({"nc": 3, **data}))
    assert dataset_hash(moved) == reference


def _relabel(ds: Path) -> None:
    (ds / "labels" / "train" / "b.txt").write_text("0 0.4 0.4 0.2 0.3\n")


def _image_byte(ds: Path) -> None:
    path = ds / "images" / "val" / "d.png"
    image = cv2.imread(str(path))
    image[0, 0] = 255 - image[0, 0]
    cv2.imwrite(str(path), image)


def _move_split(ds: Path) -> None:
    for kind, suffix in (("images", ".png"), ("labels", ".txt")):
        shutil.move(ds / kind / "train" / f"b{suffix}", ds / kind / "val" / f"b{suffix}")


def _rename(ds: Path) -> None:
    (ds / "images" / "train" / "c.png").rename(ds / "images" / "train" / "c2.png")


def _names(ds: Path) -> None:
    data = yaml.safe_load((ds / "data.yaml").read_text())
    (ds / "data.yaml").write_text(yaml.safe_dump({**data, "names": ["apple_fresh", "apple_rotten", "orange_fresh"]}))


def _swap_splits(ds: Path) -> None:
    data = yaml.safe_load((ds / "data.yaml").read_text())
    (ds / "data.yaml").write_text(yaml.safe_dump({**data, "train": "images/val", "val": "images/train"}))


def _add_negative(ds: Path) -> None:
    (ds / "labels" / "train" / "c.txt").write_text("")


@pytest.mark.parametrize(
    "change",
    [_relabel, _image_byte, _move_split, _swap_splits, _rename, _names, _add_negative],
    ids=["one-label", "one-pixel", "split-membership", "split-roles", "file-name", "class-names", "empty-label-file"],
)
def test_hash_changes_with_content(dataset: Path, change) -> None:  # noqa: ANN001 - a test-table function
    before = dataset_hash(dataset)
    change(dataset)
    assert dataset_hash(dataset) != before


def test_hash_is_stable_across_imports_and_changes_with_one_label(tmp_path: Path, taxonomy: Taxonomy) -> None:
    src = tmp_path / "src"
    for i in range(4):
        (src / "images").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(src / "images" / f"{i}.jpg"), np.full((24, 32, 3), 40 * i, np.uint8))
        (src / "labels").mkdir(exist_ok=True)
        (src / "labels" / f"{i}.txt").write_text(f"{i % 2} 0.5 0.5 0.25 0.25\n")
    (src / "classes.txt").write_text("Apple\nrotten_apple\n")
    mapping = parse_mapping({"classes": {"Apple": "apple_fresh", "rotten_apple": "apple_rotten"}}, taxonomy)

    first = import_yolo(src, tmp_path / "one", mapping)
    second = import_yolo(src, tmp_path / "two" / "nested", mapping, link=False)
    assert first.manifest is not None and second.manifest is not None
    assert second.copied == 4 and first.linked == 4
    assert first.manifest.content_hash == second.manifest.content_hash

    (src / "labels" / "2.txt").write_text("1 0.5 0.5 0.25 0.25\n")  # was class 0
    third = import_yolo(src, tmp_path / "three", mapping)
    assert third.manifest is not None and third.manifest.content_hash != first.manifest.content_hash


def test_write_read_verify_round_trip(dataset: Path) -> None:
    written = write_manifest(dataset)
    assert isinstance(written, Manifest)
    raw = json.loads((dataset / MANIFEST_FILE).read_text())
    assert raw["content_hash"] == written.content_hash and raw["names"] == {
        "0": "apple_fresh",
        "1": "apple_rotten",
        "2": "banana_fresh",
    }
    assert read_manifest(dataset) == written
    assert verify_manifest(dataset) == written
    _relabel(dataset)
    with pytest.raises(DatasetError, match="content changed since manifest.json was written"):
        verify_manifest(dataset)


@pytest.mark.parametrize(
    ("break_it", "error"),
    [
        (
            lambda ds: (ds / "labels" / "train" / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n7 0.5 0.5 0.1 0.1\n"),
            r"labels/train/a\.txt:2: class id 7 outside 0\.\.2",
        ),
        (lambda ds: (ds / "data.yaml").unlink(), "no data.yaml"),
        (
            lambda ds: (ds / "data.yaml").write_text("train: images/train\nval: /elsewhere/val\nnames: [a, b, c]\n"),
            "listed image|neither a folder",
        ),
        (lambda ds: (ds / MANIFEST_FILE).write_text("{}"), "malformed manifest"),
    ],
    ids=["label-line", "no-yaml", "split-outside", "bad-manifest-json"],
)
def test_errors_name_the_problem(dataset: Path, break_it, error: str) -> None:  # noqa: ANN001
    break_it(dataset)
    with pytest.raises(DatasetError, match=error):
        if (dataset / MANIFEST_FILE).exists():
            read_manifest(dataset)
        else:
            build_manifest(dataset)


def test_split_outside_the_root_is_refused(tmp_path: Path, dataset: Path) -> None:
    outside = tmp_path / "outside_val"
    shutil.copytree(dataset / "images" / "val", outside / "images")
    data = yaml.safe_load((dataset / "data.yaml").read_text())
    (dataset / "data.yaml").write_text(yaml.safe_dump({**data, "val": str(outside / "images")}))
    with pytest.raises(DatasetError, match="lies outside the data set root"):
        build_manifest(dataset)


def test_a_relative_folder_works(dataset: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reference = dataset_hash(dataset)
    monkeypatch.chdir(dataset.parent)
    assert dataset_hash(Path(dataset.name)) == reference
    assert dataset_hash(Path(dataset.name) / "data.yaml") == reference
