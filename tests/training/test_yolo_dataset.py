"""training.yolo_dataset: reading ultralytics-format data sets into pixel boxes, and every way one can be broken."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from training.yolo_dataset import DatasetError, label_path_for, list_samples, load_dataset
from vision.errors import QCError

NAMES = ["a", "b", "c"]


def test_pixel_boxes_from_normalised_labels(make_yolo_dataset) -> None:
    labels = [(2, 0.5, 0.5, 0.25, 0.5), (0, 0.25, 0.75, 0.125, 0.25)]
    root = make_yolo_dataset({"val": [labels]}, NAMES, size=(200, 100))
    [sample] = load_dataset(root).samples("val")
    assert (sample.width, sample.height) == (200, 100)
    np.testing.assert_allclose(sample.truth.xyxy, [[75, 25, 125, 75], [37.5, 62.5, 62.5, 87.5]], atol=1e-4)
    assert sample.truth.class_id.tolist() == [2, 0]
    assert sample.truth.class_id.dtype == np.int64 and sample.truth.xyxy.dtype == np.float32


def test_missing_or_empty_label_file_is_a_background_image(make_yolo_dataset) -> None:
    root = make_yolo_dataset({"val": [None, [], [(1, 0.5, 0.5, 0.5, 0.5)]]}, NAMES)
    samples = load_dataset(root).samples("val")
    assert [len(s.truth) for s in samples] == [0, 0, 1]
    assert samples[0].truth.xyxy.shape == (0, 4)


def test_polygon_label_becomes_its_bounding_box(make_yolo_dataset) -> None:
    root = make_yolo_dataset({"val": [[]]}, NAMES, size=(100, 100))
    (root / "labels" / "val" / "val_0000.txt").write_text("1 0.1 0.2 0.5 0.1 0.3 0.6\n")
    [sample] = load_dataset(root).samples("val")
    np.testing.assert_allclose(sample.truth.xyxy, [[10, 10, 50, 60]], atol=1e-4)


def test_box_reaching_past_the_edge_is_clipped_to_the_image(make_yolo_dataset) -> None:
    root = make_yolo_dataset({"val": [[(0, 0.05, 0.5, 0.2, 0.2)]]}, NAMES, size=(100, 100))
    [sample] = load_dataset(root).samples("val")
    np.testing.assert_allclose(sample.truth.xyxy, [[0, 40, 15, 60]], atol=1e-4)


@pytest.mark.parametrize(
    "yaml_extra",
    [
        pytest.param({}, id="path-dot"),
        pytest.param({"path": None}, id="path-omitted"),
        pytest.param({"path": "ABS"}, id="path-absolute"),
        pytest.param({"names": {0: "a", 1: "b", 2: "c"}}, id="names-mapping"),
        pytest.param({"val": ["images/val"]}, id="split-as-list"),
        pytest.param({"val": "val.txt"}, id="split-as-image-list"),
    ],
)
def test_data_yaml_forms_give_the_same_samples(make_yolo_dataset, tmp_path: Path, yaml_extra: dict[str, Any]) -> None:
    root = tmp_path / "forms"
    make_yolo_dataset({"val": [[(1, 0.5, 0.5, 0.5, 0.5)], None]}, NAMES, root=root)
    raw = yaml.safe_load((root / "data.yaml").read_text())
    for key, value in yaml_extra.items():
        if value is None:
            raw.pop(key)
        else:
            raw[key] = str(root) if value == "ABS" else value
    (root / "val.txt").write_text("images/val/val_0000.jpg\n./images/val/val_0001.jpg\n")
    (root / "data.yaml").write_text(yaml.safe_dump(raw))

    ds = load_dataset(root / "data.yaml")
    samples = ds.samples("val")
    assert ds.names == tuple(NAMES)
    assert [s.image_path.name for s in samples] == ["val_0000.jpg", "val_0001.jpg"]
    assert [len(s.truth) for s in samples] == [1, 0]


@pytest.mark.parametrize(
    ("splits", "asked", "expected"),
    [
        (("train", "val", "test"), None, "test"),
        (("train", "val"), None, "val"),
        (("train", "val", "test"), "train", "train"),
        (("train", "val", "test"), "all", "all"),
    ],
)
def test_default_split_is_test_then_val(make_yolo_dataset, splits, asked, expected) -> None:
    # Each split's images carry as many boxes as the split's name has letters, to tell them apart.
    root = make_yolo_dataset({s: [[(0, 0.5, 0.5, 0.2, 0.2)] * len(s)] for s in splits}, NAMES)
    samples = list_samples(load_dataset(root), asked)
    found = [(s.image_path.parent.name, len(s.truth)) for s in samples]
    wanted = splits if expected == "all" else (expected,)
    assert sorted(found) == sorted((s, len(s)) for s in wanted)


def test_label_path_replaces_the_last_images_folder() -> None:
    assert label_path_for(Path("/d/images/x/images/val/f.v1.jpg")) == Path("/d/images/x/labels/val/f.v1.txt")


def _write_label(root: Path, text: str) -> None:
    (root / "labels" / "val" / "val_0000.txt").write_text(text)


def _list_missing_image(root: Path) -> None:
    (root / "data.yaml").write_text("val: l.txt\nnames: [a, b, c]\n")
    (root / "l.txt").write_text("images/val/val_0000.jpg\nimages/val/gone.jpg\n")


GOOD = "0 0.5 0.5 0.2 0.2\n"

# (id, how to break a good data set, expected message fragment)
BREAKAGES = [
    ("malformed-line", lambda r: _write_label(r, GOOD + "1 0.5 0.5 0.2\n"), "val_0000.txt:2: expected 'cls cx cy w h'"),
    ("not-numbers", lambda r: _write_label(r, "x 0.5 0.5 0.2 0.2\n"), "val_0000.txt:1: not numbers"),
    ("class-out-of-range", lambda r: _write_label(r, "3 0.5 0.5 0.2 0.2\n"), "val_0000.txt:1: class id 3 outside 0..2"),
    ("negative-class", lambda r: _write_label(r, "-1 0.5 0.5 0.2 0.2\n"), "class id -1 outside 0..2"),
    ("fractional-class", lambda r: _write_label(r, "1.5 0.5 0.5 0.2 0.2\n"), "class id '1.5' is not an integer"),
    ("pixel-coords", lambda r: _write_label(r, "0 80 64 20 20\n"), "normalised to [0, 1]"),
    ("zero-size", lambda r: _write_label(r, "0 0.5 0.5 0.0 0.2\n"), "zero or negative size"),
    ("no-data-yaml", lambda r: (r / "data.yaml").unlink(), "no data.yaml in data set folder"),
    ("yaml-not-mapping", lambda r: (r / "data.yaml").write_text("- 1\n"), "expected a mapping"),
    ("yaml-invalid", lambda r: (r / "data.yaml").write_text("names: [a\n"), "not valid YAML"),
    ("no-names", lambda r: (r / "data.yaml").write_text("val: images/val\n"), "'names' must be a non-empty list"),
    ("names-gap", lambda r: (r / "data.yaml").write_text("val: images/val\nnames: {0: a, 2: c}\n"), "without gaps"),
    ("no-splits", lambda r: (r / "data.yaml").write_text("names: [a, b, c]\n"), "declares none of the splits"),
    ("empty-split", lambda r: (r / "images" / "val" / "val_0000.jpg").unlink(), "split 'val' has no images"),
    ("split-missing", lambda r: (r / "data.yaml").write_text("val: nowhere\nnames: [a, b, c]\n"), "neither a folder"),
    ("listed-image-missing", lambda r: _list_missing_image(r), "1 listed image(s) missing, e.g."),
    ("unreadable-image", lambda r: (r / "images" / "val" / "val_0000.jpg").write_bytes(b"not a jpeg"),
     "val_0000.jpg: not a readable image"),
]


@pytest.mark.parametrize(("breakage", "message"), [pytest.param(b, m, id=i) for i, b, m in BREAKAGES])
def test_broken_data_sets_raise_a_clear_error(make_yolo_dataset, breakage, message: str) -> None:
    root = make_yolo_dataset({"val": [[(0, 0.5, 0.5, 0.2, 0.2)]]}, NAMES)
    breakage(root)
    with pytest.raises(DatasetError) as info:
        load_dataset(root).samples("val")
    assert message in str(info.value)
    assert isinstance(info.value, QCError)


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("missing-folder", "data set not found"),
        ("unknown-split", "no 'test' split (declared: val); pick one, or 'all'"),
    ],
)
def test_missing_data_set_or_split(make_yolo_dataset, tmp_path: Path, target: str, message: str) -> None:
    root = make_yolo_dataset({"val": [[]]}, NAMES)
    with pytest.raises(DatasetError, match=message.replace("(", r"\(").replace(")", r"\)")):
        if target == "missing-folder":
            load_dataset(tmp_path / "nope")
        else:
            list_samples(load_dataset(root), "test")


def test_a_data_set_named_by_a_relative_path_is_found(make_yolo_dataset, monkeypatch: pytest.MonkeyPatch) -> None:
    """`qc eval --data data/eval` from the checkout: a data.yaml without ``path`` is relative to its own folder,
    which must not be joined onto itself (it once looked for data/eval/data/eval/images)."""
    root = make_yolo_dataset({"val": [[(1, 0.5, 0.5, 0.5, 0.5)]]}, NAMES)
    raw = yaml.safe_load((root / "data.yaml").read_text())
    raw.pop("path", None)  # as `qc synth frames` writes it
    (root / "data.yaml").write_text(yaml.safe_dump(raw))
    monkeypatch.chdir(root.parent)
    for given in (Path(root.name), Path(root.name) / "data.yaml"):
        [sample] = load_dataset(given).samples("val")
        assert sample.image_path.is_file() and len(sample.truth) == 1
