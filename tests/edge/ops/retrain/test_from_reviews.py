"""`qc dataset from-reviews`: reviewed frames become an ultralytics data set with the corrected labels, which
training's loader reads back, whose manifest is the one training computes, and which is the same on every run."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import typer
import yaml
from store_tx import read, write
from typer.testing import CliRunner

from edge.cli import register
from edge.ops.retrain.labels import freshest_condition
from edge.ops.retrain.writer import frame_stem, write_from_reviews
from edge.store import FrameDetection, Store
from edge.store.review_queue import query_queue
from edge.store.review_repo import apply_review
from edge.store.review_samples import read_samples
from edge.tracking.item import Item
from training.manifest import build_manifest, verify_manifest
from training.yolo_dataset import load_dataset
from vision.errors import InputError
from vision.taxonomy import Taxonomy

T0 = 1_764_150_000.0
W, H = 320, 240


def _jpeg(seed: int) -> bytes:
    image = np.random.default_rng(seed).integers(0, 255, (H, W, 3), dtype=np.uint8)
    ok, buf = cv2.imencode(".jpg", image)
    assert ok
    return buf.tobytes()


def _item(camera: str, track: int, first: int, last: int, best: int, produce: str, condition: str,
          flagged: bool, box: tuple[float, float, float, float]) -> Item:
    return Item(
        camera_id=camera, track_id=track, first_seq=first, last_seq=last, first_seen_at=T0 + first / 10,
        last_seen_at=T0 + last / 10, counted_seq=last, produce=produce, condition=condition,
        freshness=0.2 if flagged else 0.9, flagged=flagged, votes={produce: 3}, frames=3, best_box=box,
        best_seq=best, model_version="v1", best_crop_jpeg=b"\xff\xd8crop\xff\xd9" if flagged else None,
    )


def _det(box: tuple[float, float, float, float], produce: str, condition: str, track: int | None) -> FrameDetection:
    return FrameDetection(box=box, produce=produce, condition=condition, confidence=0.8, track_id=track)


def build_reviewed_store(store: Store) -> None:
    """Four stored frames, items in and across them, and reviews (see the expected labels in the test)."""
    items = {
        "A": _item("cam1", 1, 5, 25, 10, "apple", "rotten", True, (10, 20, 110, 140)),
        "B": _item("cam1", 2, 8, 15, 12, "banana", "fresh", False, (150, 30, 200, 80)),
        "D": _item("cam1", 3, 18, 22, 20, "apple", "overripe", True, (200, 100, 260, 170)),
        "G": _item("cam1", 4, 28, 35, 30, "orange", "rotten", True, (50, 50, 90, 100)),
        "H": _item("cam1", 5, 45, 52, 50, "tomato", "rotten", True, (5, 5, 50, 50)),  # its frame is not stored
        "E": _item("cam2", 1, 3, 8, 5, "apple", "rotten", True, (10, 10, 60, 60)),  # pending: not a sample
    }
    for seq, names in ((60, ["A", "B", "D", "G", "H"]),):
        store.commit_frame("cam1", seq, T0 + seq / 10, T0 + seq / 10, "v1", 0, [items[n] for n in names], None)
    store.commit_frame("cam2", 60, T0 + 6, T0 + 6, "v1", 0, [items["E"]], None)
    store.save_frame_image("cam1", 10, _jpeg(1), W, H, [
        _det((12, 22, 108, 138), "apple", "rotten", 1),
        _det((150, 30, 200, 80), "banana", "fresh", 2),
        _det((220, 150, 300, 230), "tomato", "fresh", None),
    ])
    store.save_frame_image("cam1", 20, _jpeg(2), W, H, [
        _det((60, 20, 160, 140), "apple", "bruised", 1),
        _det((200, 100, 260, 170), "apple", "overripe", 3),
    ])
    store.save_frame_image("cam1", 30, _jpeg(3), W, H, [])
    store.save_frame_image("cam2", 5, _jpeg(4), W, H, [_det((10, 10, 60, 60), "apple", "rotten", 1)])
    flag = {e.item_id: e.flag_id for e in read(store, query_queue, status="all")}
    ids = {n: next(i.id for i in store.items() if (i.camera_id, i.track_id) == (it.camera_id, it.track_id))
           for n, it in items.items()}
    write(store, apply_review, flag[ids["A"]], "relabel", "ann", produce="banana")
    write(store, apply_review, flag[ids["A"]], "fix_box", "ann", box=(14, 24, 106, 136))
    write(store, apply_review, flag[ids["A"]], "confirm_waste", "ann")
    write(store, apply_review, flag[ids["D"]], "not_waste", "ann")
    write(store, apply_review, flag[ids["G"]], "confirm_waste", "ann")
    write(store, apply_review, flag[ids["H"]], "confirm_waste", "ann")
    write(store, apply_review, flag[ids["E"]], "relabel", "ann", condition="bruised")  # relabelled, still undecided


def expected_labels(tax: Taxonomy) -> dict[str, list[tuple[str, tuple[float, ...]]]]:
    fresh = freshest_condition(tax)
    return {
        frame_stem("cam1", 10): [
            ("banana_rotten", (14, 24, 106, 136)),  # relabel + box fix on the reviewer's frame
            ("banana_fresh", (150, 30, 200, 80)),  # unflagged item: its detection
            ("tomato_fresh", (220, 150, 300, 230)),  # untracked box: its detection
        ],
        frame_stem("cam1", 20): [
            ("banana_rotten", (60, 20, 160, 140)),  # the relabel follows the item; the box is this frame's
            (f"apple_{fresh}", (200, 100, 260, 170)),  # not waste -> the freshest condition
        ],
        frame_stem("cam1", 30): [("orange_rotten", (50, 50, 90, 100))],  # no detection kept: the item's box
    }


def _loaded(out: Path, tax: Taxonomy) -> dict[str, list[tuple[str, tuple[float, ...]]]]:
    dataset = load_dataset(out)
    assert dataset.names == tax.class_names
    found = {}
    for sample in dataset.samples("all"):
        assert (sample.width, sample.height) == (W, H)
        found[sample.image_path.stem] = [
            (dataset.names[c], tuple(round(float(v)) for v in box))
            for c, box in zip(sample.truth.class_id.tolist(), sample.truth.xyxy, strict=True)
        ]
    return found


def test_reviewed_frames_become_a_dataset_with_corrected_labels(
    store: Store, taxonomy: Taxonomy, tmp_path: Path
) -> None:
    build_reviewed_store(store)
    report = write_from_reviews(read_samples(store), tmp_path / "ds", taxonomy, store_url=store.url)

    expected = expected_labels(taxonomy)
    assert _loaded(tmp_path / "ds", taxonomy) == {
        stem: [(name, tuple(float(v) for v in box)) for name, box in labels] for stem, labels in expected.items()
    }
    assert report.skipped == {} and sum(report.frames.values()) == 3 and report.frames["val"] >= 1
    assert "path" not in yaml.safe_load((tmp_path / "ds" / "data.yaml").read_text())
    # The manifest is the project's: training computes the same hash and counts from the files.
    assert report.manifest is not None
    assert build_manifest(tmp_path / "ds").to_dict() == report.manifest.to_dict()
    verify_manifest(tmp_path / "ds")
    assert report.manifest.instances["banana_rotten"] == 2 and sum(report.manifest.instances.values()) == 6

    again = write_from_reviews(read_samples(store), tmp_path / "ds2", taxonomy, store_url=store.url)
    assert again.manifest is not None and again.manifest.content_hash == report.manifest.content_hash


def test_frames_with_classes_outside_the_taxonomy_are_skipped(store: Store, tmp_path: Path) -> None:
    build_reviewed_store(store)
    small = Taxonomy.from_dict({"produce": ["apple", "banana", "orange"], "conditions": [
        {"name": "fresh", "freshness": 1.0}, {"name": "bruised", "freshness": 0.6},
        {"name": "overripe", "freshness": 0.3}, {"name": "rotten", "freshness": 0.0}]})
    report = write_from_reviews(read_samples(store), tmp_path / "ds", small, store_url=store.url)
    assert list(report.skipped) == [frame_stem("cam1", 10)] and "tomato_fresh" in report.skipped[frame_stem("cam1", 10)]
    assert sum(report.frames.values()) == 2


def test_nothing_to_write_and_a_used_folder_are_refused(store: Store, taxonomy: Taxonomy, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no reviewed frame"):
        write_from_reviews(read_samples(store), tmp_path / "empty", taxonomy, store_url=store.url)
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "x").write_text("x")
    with pytest.raises(InputError, match="not empty"):
        write_from_reviews(iter(()), tmp_path / "used", taxonomy, store_url=store.url)


@pytest.mark.parametrize(("camera", "stem"), [("cam1", "cam1_0000000042"), ("line/1", "line_1-")])
def test_frame_file_names_are_safe(camera: str, stem: str) -> None:
    assert frame_stem(camera, 42).startswith(stem) and "/" not in frame_stem(camera, 42)


def test_cli_writes_the_dataset(tmp_path: Path, taxonomy: Taxonomy) -> None:
    url = f"sqlite:///{tmp_path / 'qc.db'}"
    with Store.open(url) as store:
        build_reviewed_store(store)
    app = typer.Typer()
    register(app)
    result = CliRunner().invoke(app, ["dataset", "from-reviews", "--out", str(tmp_path / "ds"), "--db", url])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert sum(summary["frames"].values()) == 3 and len(summary["content_hash"]) == 64
    assert _loaded(tmp_path / "ds", taxonomy).keys() == expected_labels(taxonomy).keys()
