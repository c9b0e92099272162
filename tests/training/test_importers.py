"""Importers: real YOLO folders and COCO files written with cv2, imported onto the project's taxonomy."""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Any

import cv2
import numpy as np
import pytest
import yaml

from training.importers import ImportReport, SourceBox, SourceImage, assign_split, check_fractions, write_import
from training.importers.coco import import_coco
from training.importers.mapping import LabelMapping, parse_mapping
from training.importers.yolo import import_yolo
from training.yolo_dataset import DatasetError, label_path_for, list_samples, load_dataset
from vision.errors import QCError
from vision.taxonomy import Taxonomy

W, H = 64, 48

MAPPING = {
    "default_condition": "fresh",
    "classes": {
        "Apple": {"produce": "apple", "condition": "fresh"},
        "rotten_apple": {"produce": "apple", "condition": "rotten"},
        "Banana": {"produce": "banana"},
        "tomato bad": "tomato_rotten",
        "person": "ignore",
    },
}


def _image(path: Path, seed: int, size: tuple[int, int] = (W, H)) -> None:
    """A small real image with a coloured rectangle; the seed makes each file's bytes different."""
    rng = np.random.default_rng(seed)
    image = np.full((size[1], size[0], 3), 80, np.uint8)
    x, y = int(rng.integers(0, size[0] // 2)), int(rng.integers(0, size[1] // 2))
    cv2.rectangle(
        image, (x, y), (x + size[0] // 3, y + size[1] // 3), tuple(int(v) for v in rng.integers(0, 256, 3)), -1
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)


def _label_path(image_rel: str) -> str:
    parts = image_rel.split("/")
    last = len(parts) - 1 - parts[::-1].index("images")
    parts[last] = "labels"
    return str(Path(*parts).with_suffix(".txt"))


def make_yolo(root: Path, files: dict[str, str | None], names: list[str], names_as: str = "data.yaml") -> Path:
    """A YOLO source: ``files`` maps image paths (relative, containing an ``images`` folder) to label text or None."""
    for i, (rel, labels) in enumerate(sorted(files.items())):
        _image(root / rel, seed=i)
        if labels is not None:
            label = root / _label_path(rel)
            label.parent.mkdir(parents=True, exist_ok=True)
            label.write_text(labels)
    if names_as == "data.yaml":
        (root / "data.yaml").write_text(yaml.safe_dump({"names": dict(enumerate(names))}))
    else:
        (root / names_as).parent.mkdir(parents=True, exist_ok=True)
        (root / names_as).write_text("\n".join(names) + "\n")
    return root


@pytest.fixture
def mapping(taxonomy: Taxonomy) -> LabelMapping:
    return parse_mapping(MAPPING, taxonomy)


def _labels(out: Path, split: str, stem: str) -> list[str]:
    return (out / "labels" / split / f"{stem}.txt").read_text().splitlines()


def _split_of(out: Path, stem: str) -> str:
    (hit,) = [p.relative_to(out / "images").parts[0] for p in (out / "images").rglob(f"{stem}.*")]
    return hit


def _assert_every_label_is_found(out: Path) -> list[Path]:
    """Every output image sits directly in images/<split>/ and its label is where ultralytics and qc eval look."""
    from ultralytics.data.utils import img2label_paths

    images = sorted(p for p in (out / "images").rglob("*") if p.is_file())
    assert images
    for image in images:
        assert len(image.relative_to(out / "images").parts) == 2, image  # <split>/<name>: no folders below
        assert label_path_for(image).is_file(), image
        (ultralytics_label,) = img2label_paths([str(image)])
        assert Path(ultralytics_label) == label_path_for(image)
    return images


# ---------------------------------------------------------------- splits


def test_assign_split_is_deterministic_and_follows_fractions() -> None:
    names = [f"img_{i:05d}.jpg" for i in range(2000)]
    first = [assign_split(n, 0.2, 0.1) for n in names]
    assert first == [assign_split(n, 0.2, 0.1) for n in names]
    counts = {s: first.count(s) for s in ("train", "val", "test")}
    # Binomial spread for n = 2000 is about +-20 at 2 sigma; a broken hash is far off.
    assert 340 <= counts["val"] <= 460 and 150 <= counts["test"] <= 250
    assert {assign_split(n, 0.0, 0.0) for n in names} == {"train"}


@pytest.mark.parametrize(
    ("val", "test", "error"),
    [
        (0.1, 0.0, None),
        (0.0, 0.0, None),
        (1.0, 0.0, "--val-fraction"),
        (-0.1, 0.0, "--val-fraction"),
        (0.5, 0.5, "must be < 1"),
        (0.1, 1.2, "--test-fraction"),
    ],
)
def test_check_fractions(val: float, test: float, error: str | None) -> None:
    if error is None:
        check_fractions(val, test)
    else:
        with pytest.raises(QCError, match=error):
            check_fractions(val, test)


# ---------------------------------------------------------------- YOLO


def test_yolo_flat_source_is_mapped_exactly(tmp_path: Path, mapping: LabelMapping, taxonomy: Taxonomy) -> None:
    names = ["Apple", "rotten_apple", "person", "Banana", "unused class"]
    src = make_yolo(
        tmp_path / "src",
        {
            "images/a.jpg": "0 0.5 0.5 0.25 0.5\n1 0.25 0.75 0.1 0.2\n",
            "images/b.jpg": "2 0.5 0.5 0.5 0.5\n3 0.125 0.25 0.0625 0.125\n",
            "images/c.png": None,  # no label file: a negative
            "images/sub/d.jpg": "0 0.95 0.5 0.2 0.2\n",  # reaches past the right edge: clipped; flattened
            "images/e.jpg": "3 0.2 0.2 0.1 0.1 0.3 0.1 0.3 0.4\n",  # a polygon: its bounding box
        },
        names,
    )
    out = tmp_path / "out"
    report = import_yolo(src, out, mapping, val_fraction=0.4, test_fraction=0.2)

    apple_fresh, apple_rotten = taxonomy.class_id("apple", "fresh"), taxonomy.class_id("apple", "rotten")
    banana_fresh = taxonomy.class_id("banana", "fresh")
    split = {stem: _split_of(out, stem) for stem in ("a", "b", "c", "sub__d", "e")}
    assert split == {
        s: assign_split(n, 0.4, 0.2)
        for s, n in zip(("a", "b", "c", "sub__d", "e"), ["a.jpg", "b.jpg", "c.png", "d.jpg", "e.jpg"], strict=True)
    }
    assert _labels(out, split["a"], "a") == [
        f"{apple_fresh} 0.500000 0.500000 0.250000 0.500000",
        f"{apple_rotten} 0.250000 0.750000 0.100000 0.200000",
    ]
    assert _labels(out, split["b"], "b") == [f"{banana_fresh} 0.125000 0.250000 0.062500 0.125000"]
    assert _labels(out, split["c"], "c") == []
    assert (out / "images" / split["c"] / "c.png").is_file()  # the source format is kept
    assert _labels(out, split["sub__d"], "sub__d") == [f"{apple_fresh} 0.925000 0.500000 0.150000 0.200000"]
    assert not (out / "images" / split["sub__d"] / "sub").exists()  # no folders below the split
    assert _labels(out, split["e"], "e") == [f"{banana_fresh} 0.200000 0.250000 0.200000 0.300000"]

    assert report.boxes == {"apple_fresh": 2, "apple_rotten": 1, "banana_fresh": 2}
    assert dict(report.ignored) == {"person": 1}
    assert report.clipped == 1 and report.negatives == 1 and report.skipped == []
    assert sum(report.images.values()) == 5 and report.linked == 5
    data = yaml.safe_load((out / "data.yaml").read_text())
    assert data["names"] == dict(enumerate(taxonomy.class_names))
    assert "path" not in data and data["train"] == "images/train" and data["val"] == "images/val"
    assert report.manifest is not None
    assert json.loads((out / "manifest.json").read_text())["content_hash"] == report.manifest.content_hash


@pytest.mark.parametrize(
    ("files", "names_as", "expected_splits"),
    [
        (
            {
                "images/train/a.jpg": "0 0.5 0.5 0.2 0.2\n",
                "images/val/b.jpg": "1 0.5 0.5 0.2 0.2\n",
                "images/test/c.jpg": None,
            },
            "data.yaml",
            {"a": "train", "b": "val", "c": "test"},
        ),
        (
            {"train/images/a.jpg": "0 0.5 0.5 0.2 0.2\n", "valid/images/b.jpg": "1 0.5 0.5 0.2 0.2\n"},
            "classes.txt",
            {"a": "train", "b": "val"},
        ),
        (
            {"images/train/a.jpg": "0 0.5 0.5 0.2 0.2\n", "images/validation/b.jpg": None},
            "labels/classes.txt",
            {"a": "train", "b": "val"},
        ),
    ],
    ids=["images-split", "roboflow", "label-studio-names"],
)
def test_yolo_keeps_source_splits(
    tmp_path: Path, mapping: LabelMapping, files: dict[str, str | None], names_as: str, expected_splits: dict[str, str]
) -> None:
    src = make_yolo(tmp_path / "src", files, ["Apple", "rotten_apple"], names_as=names_as)
    out = tmp_path / "out"
    report = import_yolo(src, out, mapping, val_fraction=0.5)
    assert {stem: _split_of(out, stem) for stem in expected_splits} == expected_splits
    assert report.skipped == []
    assert _labels(out, "train", "a") == ["0 0.500000 0.500000 0.200000 0.200000"]


def test_yolo_folders_below_a_split_are_flattened_so_ultralytics_finds_the_labels(
    tmp_path: Path, mapping: LabelMapping
) -> None:
    # Sub-folders called "images" inside a split: kept as folders, ultralytics would look in images/train/labels/.
    # make_yolo puts a's label where ultralytics looks (images/train/labels/a.txt); d's goes in the mirrored tree.
    src = make_yolo(
        tmp_path / "src",
        {
            "images/train/images/a.jpg": "0 0.5 0.5 0.2 0.2\n",
            "images/train/cam2/b.jpg": "1 0.5 0.5 0.2 0.2\n",
            "images/train/images/d.jpg": None,
            "images/val/c.jpg": "",
        },
        ["Apple", "rotten_apple"],
    )
    (src / "labels" / "train" / "images").mkdir(parents=True)
    (src / "labels" / "train" / "images" / "d.txt").write_text("1 0.25 0.25 0.1 0.1\n")
    out = tmp_path / "out"
    report = import_yolo(src, out, mapping)
    assert sorted(p.relative_to(out).as_posix() for p in _assert_every_label_is_found(out)) == [
        "images/train/cam2__b.jpg",
        "images/train/images__a.jpg",
        "images/train/images__d.jpg",
        "images/val/c.jpg",
    ]
    assert _labels(out, "train", "images__a") == ["0 0.500000 0.500000 0.200000 0.200000"]
    assert _labels(out, "train", "images__d") == ["3 0.250000 0.250000 0.100000 0.100000"]
    assert report.skipped == [] and report.images == {"train": 3, "val": 1, "test": 0}
    truth = {s.image_path.name: len(s.truth) for s in list_samples(load_dataset(out), "all")}
    assert truth == {"images__a.jpg": 1, "cam2__b.jpg": 1, "images__d.jpg": 1, "c.jpg": 0}


def test_yolo_unmapped_classes_are_all_listed_and_nothing_is_written(tmp_path: Path, mapping: LabelMapping) -> None:
    names = ["Apple", "Pear", "kiwi", "Plum", "never used"]
    src = make_yolo(
        tmp_path / "src",
        {"images/a.jpg": "0 .5 .5 .2 .2\n1 .5 .5 .2 .2\n", "images/b.jpg": "2 .5 .5 .1 .1\n3 .2 .2 .1 .1\n"},
        names,
    )
    out = tmp_path / "out"
    with pytest.raises(QCError) as info:
        import_yolo(src, out, mapping)
    message = str(info.value)
    assert "3 source class(es) have no rule" in message
    assert "'Pear', 'Plum', 'kiwi'" in message and "never used" not in message
    assert "--drop-unmapped" in message
    assert not out.exists()


def test_yolo_drop_unmapped_counts_the_dropped_boxes(tmp_path: Path, mapping: LabelMapping) -> None:
    src = make_yolo(
        tmp_path / "src",
        {"images/a.jpg": "0 .5 .5 .2 .2\n1 .5 .5 .2 .2\n1 .2 .2 .1 .1\n", "images/b.jpg": "2 .5 .5 .1 .1\n"},
        ["Apple", "Pear", "kiwi"],
    )
    out = tmp_path / "out"
    report = import_yolo(src, out, mapping, drop_unmapped=True, val_fraction=0.0)
    assert dict(report.dropped_unmapped) == {"Pear": 2, "kiwi": 1}
    assert report.boxes == {"apple_fresh": 1}
    assert _labels(out, "train", "a") == ["0 0.500000 0.500000 0.200000 0.200000"]
    assert _labels(out, "train", "b") == []  # its only box was dropped: kept as a negative
    assert report.negatives == 1


MALFORMED = [
    ("0 0.5 0.5 0.2", "expected 'cls cx cy w h' (or a polygon), got 4 values"),
    ("zero 0.5 0.5 0.2 0.2", "not numbers"),
    ("0.5 0.5 0.5 0.2 0.2", "class id '0.5' is not an integer"),
    ("9 0.5 0.5 0.2 0.2", "class id 9 not in the source's class names"),
    ("0 12 30 5 5", "coordinates not normalised to [0, 1]"),
    ("0 0.5 0.5 0 0.2", "box has zero size"),
    ("0 nan 0.5 0.2 0.2", "coordinates not finite"),
    ("0 0.1 0.1 0.2 0.1 0.3", "expected 'cls cx cy w h' (or a polygon), got 6 values"),
]


def test_yolo_malformed_lines_are_skipped_and_reported_with_file_and_line(
    tmp_path: Path, mapping: LabelMapping
) -> None:
    lines = ["0 0.5 0.5 0.2 0.2", ""] + [line for line, _ in MALFORMED] + ["1 0.25 0.25 0.1 0.1"]
    src = make_yolo(
        tmp_path / "src",
        {"images/train/a.jpg": "\n".join(lines) + "\n", "images/train/b.jpg": None},
        ["Apple", "rotten_apple"],
    )
    (src / "labels" / "train" / "orphan.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    (src / "images" / "train" / "broken.jpg").write_bytes(b"not a jpeg")
    (src / "images" / "stray.jpg").write_bytes((src / "images" / "train" / "a.jpg").read_bytes())
    out = tmp_path / "out"
    report = import_yolo(src, out, mapping)

    expected = [(f"labels/train/a.txt:{3 + i}", reason) for i, (_, reason) in enumerate(MALFORMED)]
    assert [(s.where, s.reason) for s in report.skipped if s.where.startswith("labels/train/a.txt")] == expected
    others = {s.where: s.reason for s in report.skipped if not s.where.startswith("labels/train/a.txt")}
    assert others["labels/train/orphan.txt"] == "label file without an image"
    assert others["images/train/broken.jpg"].startswith("unreadable image")
    assert others["images/stray.jpg"] == "image outside the split folders (train/val/test)"
    assert _labels(out, "train", "a") == [
        "0 0.500000 0.500000 0.200000 0.200000",
        "3 0.250000 0.250000 0.100000 0.100000",
    ]
    assert report.images == {"train": 2, "val": 0, "test": 0}
    assert any("val split is empty" in w for w in report.warnings)


@pytest.mark.parametrize(
    ("setup", "error"),
    [
        (lambda src, out: None, "YOLO source folder not found"),
        (lambda src, out: src.mkdir(), "no data.yaml or classes.txt"),
        (lambda src, out: (src.mkdir(), (src / "classes.txt").write_text("Apple\n")), "expected an images/ folder"),
        (
            lambda src, out: (
                make_yolo(src, {"images/a.jpg": None}, ["Apple"]),
                out.mkdir(),
                (out / "x").write_text(""),
            ),
            "exists and is not empty",
        ),
        (
            lambda src, out: (src.mkdir(), (src / "data.yaml").write_text("names: 3\n")),
            "'names' must be a non-empty list",
        ),
        (
            lambda src, out: ((src / "images").mkdir(parents=True), (src / "classes.txt").write_text("Apple\n")),
            "no images found",
        ),
    ],
    ids=["missing", "no-names", "no-images-folder", "out-not-empty", "bad-names", "empty"],
)
def test_yolo_source_errors(tmp_path: Path, mapping: LabelMapping, setup: Any, error: str) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    setup(src, out)
    with pytest.raises(DatasetError, match=error):
        import_yolo(src, out, mapping)


def test_a_failed_write_leaves_no_output(tmp_path: Path, mapping: LabelMapping) -> None:
    _image(tmp_path / "ok.jpg", 0)
    images = [
        SourceImage(tmp_path / "ok.jpg", "train", PurePosixPath("ok.jpg"), (SourceBox("Apple", 0.1, 0.1, 0.2, 0.2),)),
        SourceImage(tmp_path / "vanished.jpg", "train", PurePosixPath("vanished.jpg"), ()),
    ]
    out = tmp_path / "parent" / "out"
    with pytest.raises(FileNotFoundError):
        write_import(images, mapping, out, ImportReport(source="test", out_dir=out))
    assert not out.exists() and list((tmp_path / "parent").iterdir()) == []


# ---------------------------------------------------------------- COCO


def _coco(tmp_path: Path) -> tuple[Path, Path]:
    images = tmp_path / "coco_images"
    _image(images / "a.jpg", 1, size=(200, 100))
    _image(images / "b.jpg", 2, size=(200, 100))
    _image(images / "neg.jpg", 3, size=(200, 100))
    _image(images / "mis.jpg", 4, size=(100, 100))
    coco = {
        "images": [
            {"id": 1, "file_name": "a.jpg", "width": 200, "height": 100},
            {"id": 2, "file_name": "train2017/b.jpg", "width": 200, "height": 100},  # prefix the folder lacks
            {"id": 3, "file_name": "neg.jpg", "width": 200, "height": 100},
            {"id": 4, "file_name": "mis.jpg", "width": 200, "height": 100},  # the file is 100x100
            {"id": 5, "file_name": "gone.jpg", "width": 200, "height": 100},
        ],
        "categories": [{"id": 7, "name": "Apple"}, {"id": 9, "name": "rotten_apple"}, {"id": 11, "name": "person"}],
        "annotations": [
            {"id": 100, "image_id": 1, "category_id": 7, "bbox": [20, 10, 40, 30], "iscrowd": 0},
            {"id": 101, "image_id": 1, "category_id": 9, "bbox": [150, 50, 100, 80], "iscrowd": 0},  # clipped
            {"id": 102, "image_id": 1, "category_id": 7, "bbox": [0, 0, 200, 100], "iscrowd": 1},
            {"id": 103, "image_id": 2, "category_id": 11, "bbox": [1, 1, 10, 10]},
            {"id": 104, "image_id": 2, "category_id": 9, "bbox": [50, 25, 100, 50]},
            {"id": 105, "image_id": 2, "category_id": 8, "bbox": [1, 1, 10, 10]},
            {"id": 106, "image_id": 2, "category_id": 7, "bbox": [1, 1, 0, 10]},
            {"id": 107, "image_id": 2, "category_id": 7, "bbox": [250, 10, 10, 10]},  # entirely outside
            {"id": 108, "image_id": 4, "category_id": 7, "bbox": [1, 1, 10, 10]},
            {"id": 109, "image_id": 99, "category_id": 7, "bbox": [1, 1, 10, 10]},
            {"id": 110, "image_id": 1, "category_id": 7, "bbox": [1, 1, 10, 10], "iscrowd": 1},
        ],
    }
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(coco))
    return path, images


def test_coco_import_normalises_clips_and_reports(tmp_path: Path, mapping: LabelMapping, taxonomy: Taxonomy) -> None:
    annotations, images = _coco(tmp_path)
    out = tmp_path / "out"
    report = import_coco(annotations, images, out, mapping, split="train")

    fresh, rotten = taxonomy.class_id("apple", "fresh"), taxonomy.class_id("apple", "rotten")
    assert _labels(out, "train", "a") == [
        f"{fresh} 0.200000 0.250000 0.200000 0.300000",  # [20,10,40,30] on 200x100
        f"{rotten} 0.875000 0.750000 0.250000 0.500000",  # x 150..200, y 50..100 after clipping
    ]
    assert _labels(out, "train", "b") == [f"{rotten} 0.500000 0.500000 0.500000 0.500000"]
    assert _labels(out, "train", "neg") == []  # no annotations: kept as a negative
    assert not (out / "images" / "train" / "mis.jpg").exists()
    assert report.crowd == 2 and report.clipped == 2 and dict(report.ignored) == {"person": 1}
    assert report.images == {"train": 3, "val": 0, "test": 0} and report.negatives == 1
    skipped = {s.where: s.reason for s in report.skipped}
    assert skipped == {
        "instances.json: annotation id 105": "unknown category_id 8",
        "instances.json: annotation id 106": "box has zero size",
        "instances.json: annotation id 107": "box lies outside the image",
        "instances.json: annotation id 109": "image_id 99 is not in 'images'",
        "mis.jpg": "size mismatch: annotations say 200x100, file is 100x100",
        "gone.jpg": f"image file not found in {images}",
    }


def test_coco_unmapped_categories_are_all_listed(tmp_path: Path, taxonomy: Taxonomy) -> None:
    annotations, images = _coco(tmp_path)
    only_person = parse_mapping({"classes": {"person": "ignore"}}, taxonomy)
    with pytest.raises(QCError, match=r"2 source class\(es\) have no rule .*: 'Apple', 'rotten_apple'"):
        import_coco(annotations, images, tmp_path / "out", only_person)
    report = import_coco(annotations, images, tmp_path / "out", only_person, drop_unmapped=True)
    # Crowd boxes and boxes on skipped images are not counted as dropped: they never reached the mapping.
    assert dict(report.dropped_unmapped) == {"Apple": 1, "rotten_apple": 2}


@pytest.mark.parametrize(
    ("content", "error"),
    [
        ("{", "not valid JSON"),
        ("[]", "expected a JSON object"),
        ('{"images": {}, "categories": []}', "'images' must be a list"),
        ('{"images": [], "categories": [{"name": "x"}]}', r"categories\[0\] needs 'id' and 'name'"),
        ('{"images": [], "categories": []}', "none of its images could be imported"),
    ],
)
def test_coco_file_errors(tmp_path: Path, mapping: LabelMapping, content: str, error: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    (tmp_path / "imgs").mkdir()
    with pytest.raises(DatasetError, match=error):
        import_coco(path, tmp_path / "imgs", tmp_path / "out", mapping)


def _nested_coco(tmp_path: Path, file_names: list[str]) -> tuple[Path, Path]:
    """A COCO export whose file_names carry folders; image i has one Apple box, the last one none (a negative)."""
    images = tmp_path / "export"
    entries, annotations = [], []
    for i, name in enumerate(file_names, start=1):
        _image(images / name, seed=i, size=(200, 100))
        entries.append({"id": i, "file_name": name, "width": 200, "height": 100})
        if i < len(file_names):
            annotations.append({"id": 100 + i, "image_id": i, "category_id": 7, "bbox": [20, 10, 40, 30]})
    coco = {"images": entries, "categories": [{"id": 7, "name": "Apple"}], "annotations": annotations}
    path = tmp_path / "export" / "annotations.json"
    path.write_text(json.dumps(coco))
    return path, images


def test_coco_file_names_with_folders_are_flattened_so_every_label_is_found(
    tmp_path: Path, mapping: LabelMapping, taxonomy: Taxonomy
) -> None:
    annotations, images = _nested_coco(
        tmp_path, ["images/x.jpg", "train/sub/y.jpg", "z.jpg", "images/sub/images/w.jpg", "images/neg.jpg"]
    )
    out = tmp_path / "out"
    report = import_coco(annotations, images, out, mapping, split="val")

    written = _assert_every_label_is_found(out)
    assert sorted(p.name for p in written) == [
        "images__neg.jpg",
        "images__sub__images__w.jpg",
        "images__x.jpg",
        "train__sub__y.jpg",
        "z.jpg",
    ]
    fresh = taxonomy.class_id("apple", "fresh")
    assert _labels(out, "val", "images__x") == [f"{fresh} 0.200000 0.250000 0.200000 0.300000"]
    assert _labels(out, "val", "images__neg") == []
    assert report.images == {"train": 0, "val": 5, "test": 0} and report.negatives == 1 and report.skipped == []
    # What qc eval reads: every box of the source, none lost to a label path that does not exist.
    assert sum(len(s.truth) for s in list_samples(load_dataset(out), "val")) == 4


def test_coco_paths_that_only_flattening_makes_alike_are_both_kept(tmp_path: Path, mapping: LabelMapping) -> None:
    annotations, images = _nested_coco(tmp_path, ["a/b.jpg", "a__b.jpg", "c.jpg"])
    coco = json.loads(annotations.read_text())
    coco["images"].append({**coco["images"][2], "id": 4})  # a repeated file_name is still one image
    annotations.write_text(json.dumps(coco))
    out = tmp_path / "out"
    report = import_coco(annotations, images, out, mapping, split="train")

    written = {p.name: p for p in _assert_every_label_is_found(out)}
    (renamed,) = set(written) - {"a__b.jpg", "c.jpg"}
    assert {"a__b.jpg", "c.jpg"} <= set(written) and renamed.startswith("a__b-") and renamed.endswith(".jpg")
    # The first in the JSON keeps the plain name; the second gets a hash of its source path.
    assert written["a__b.jpg"].read_bytes() == (images / "a" / "b.jpg").read_bytes()
    assert written[renamed].read_bytes() == (images / "a__b.jpg").read_bytes()
    assert report.images["train"] == 3
    assert [(s.where, s.reason) for s in report.skipped] == [
        (str(images / "c.jpg"), "another image already uses the name c in train")
    ]
    assert len(report.warnings) == 2 and "1 image(s) got a hash in their name" in report.warnings[0]


@pytest.mark.parametrize(
    ("file_name", "error"),
    [
        ("../outside.jpg", "contains '..'"),
        ("sub/../../outside.jpg", "contains '..'"),
        ("/data/export/a.jpg", "is an absolute path"),
        ("C:\\data\\a.jpg", "is an absolute path"),
    ],
)
def test_coco_file_names_outside_the_images_folder_are_refused(
    tmp_path: Path, mapping: LabelMapping, file_name: str, error: str
) -> None:
    annotations, images = _nested_coco(tmp_path, ["ok.jpg", "neg.jpg"])
    coco = json.loads(annotations.read_text())
    coco["images"].append({"id": 42, "file_name": file_name, "width": 200, "height": 100})
    annotations.write_text(json.dumps(coco))
    out = tmp_path / "out"
    with pytest.raises(DatasetError) as info:
        import_coco(annotations, images, out, mapping)
    message = str(info.value)
    assert error in message and "image id 42" in message and repr(file_name) in message
    assert str(annotations) in message
    assert not out.exists()


# ---------------------------------------------------------------- ultralytics reads the result


def test_ultralytics_loads_an_imported_data_set(
    tmp_path: Path, mapping: LabelMapping, taxonomy: Taxonomy, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ultralytics.data.utils as data_utils
    from ultralytics.data.dataset import YOLODataset

    from training.manifest import dataset_hash

    files = {f"images/{i}.jpg": f"{i % 2} 0.5 0.5 0.3 0.4\n" for i in range(8)}
    src = make_yolo(tmp_path / "src", files, ["Apple", "rotten_apple"])
    out = tmp_path / "somewhere" / "ds"
    import_yolo(src, out, mapping, val_fraction=0.25, test_fraction=0.25)
    before = dataset_hash(out)

    downloads: list[str] = []
    # check_det_dataset may fetch a plotting font; it has nothing to do with the data, and nothing may be downloaded.
    monkeypatch.setattr(data_utils, "check_font", lambda *a, **k: None)
    monkeypatch.setattr(data_utils, "safe_download", lambda *a, **k: downloads.append(str(a or k)))
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the splits must resolve against data.yaml's folder, not the working directory

    data = data_utils.check_det_dataset(str(out / "data.yaml"))
    assert downloads == []
    assert data["nc"] == taxonomy.num_classes and list(data["names"].values()) == list(taxonomy.class_names)
    assert Path(data["train"]) == (out / "images" / "train").resolve()
    boxes = 0
    for split in ("train", "val"):
        dataset = YOLODataset(img_path=data[split], data=data, task="detect", imgsz=64, augment=False)
        boxes += sum(len(label["cls"]) for label in dataset.labels)
    test_boxes = len(list((out / "labels" / "test").glob("*.txt")))
    assert boxes + test_boxes == 8
    # ultralytics wrote labels/<split>.cache files: they are not content.
    assert list((out / "labels").glob("*.cache"))
    assert dataset_hash(out) == before
