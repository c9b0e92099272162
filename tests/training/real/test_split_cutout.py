"""The validation split by content, and cut-outs with their mask check, on real photos."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from training.real.cutout import check_mask, cut_out
from training.real.split import Fold, content_key, fold_of_key, is_dev_key, split_of, split_of_key

FRUIT = Path(__file__).resolve().parents[3] / "datasets" / "fixtures" / "real-produce" / "fruit-photos" / "images"


def test_split_follows_content_not_name(tmp_path: Path) -> None:
    src = FRUIT / "train_apple_2.jpg"
    renamed = tmp_path / "deep" / "other_name.jpg"
    renamed.parent.mkdir()
    shutil.copyfile(src, renamed)
    assert split_of(renamed) == split_of(src)
    assert content_key(renamed) == content_key(src)


def test_split_share_is_about_a_quarter() -> None:
    keys = [f"{i:064x}" for i in range(4000)]
    share = sum(split_of_key(k) == "val" for k in keys) / len(keys)
    assert 0.22 < share < 0.28
    assert all(split_of_key(k, 0.0) == "train" for k in keys[:50])


def test_dev_is_about_a_fifth_of_train_and_never_val() -> None:
    keys = [f"{i:064x}" for i in range(4000)]
    train = [k for k in keys if split_of_key(k) == "train"]
    assert not any(is_dev_key(k) for k in keys if split_of_key(k) == "val")
    share = sum(is_dev_key(k) for k in train) / len(train)
    assert 0.17 < share < 0.23
    assert not any(is_dev_key(k, 0.0) for k in train[:50]) and all(is_dev_key(k, 1.0) for k in train[:50])
    with pytest.raises(ValueError, match="dev_share"):
        is_dev_key(train[0], 1.5)


def test_folds_cut_train_into_parts_and_fold_0_of_5_is_dev() -> None:
    keys = [f"{i:064x}" for i in range(4000)]
    train = [k for k in keys if split_of_key(k) == "train"]
    assert all(fold_of_key(k, 5) is None for k in keys if split_of_key(k) == "val")
    assert [fold_of_key(k, 5) == 0 for k in train] == [is_dev_key(k) for k in train]
    for count in (3, 5):
        folds = [Fold(i, count) for i in range(count)]
        assert all(sum(f.holds(k) for f in folds) == 1 for k in train)  # each training photo in exactly one fold
        sizes = [sum(f.holds(k) for k in train) for f in folds]
        assert min(sizes) > 0.8 * len(train) / count
    assert str(Fold.parse("2/5")) == "2/5" and Fold.parse(" 1/3") == Fold(1, 3)
    for bad in ("5/5", "1/1", "x/5", "1-5", "-1/5"):
        with pytest.raises(ValueError, match="I/K"):
            Fold.parse(bad)


def test_split_refuses_bad_share() -> None:
    with pytest.raises(ValueError, match="val_share"):
        split_of_key("ab", 1.0)


@pytest.mark.parametrize("name", ["train_apple_2.jpg", "train_orange_14.jpg", "train_banana_34.jpg"])
def test_cut_out_of_a_real_single_fruit_matches_its_hand_drawn_box(name: str) -> None:
    import json

    ann = json.loads((FRUIT.parent / "annotations.json").read_text())
    img = next(i for i in ann["images"] if i["file_name"] == name)
    x, y, w, h = next(a["bbox"] for a in ann["annotations"] if a["image_id"] == img["id"])
    c = cut_out(cv2.imread(str(FRUIT / name)), elongated="banana" in name)
    assert c.ok, c.problem
    x0, y0, x1, y1 = c.box
    iw = max(0, min(x1, x + w) - max(x0, x))
    ih = max(0, min(y1, y + h) - max(y0, y))
    iou = iw * ih / ((x1 - x0) * (y1 - y0) + w * h - iw * ih)
    assert iou > 0.6  # hand-drawn boxes leave out a leaf or stem the mask keeps, or are loose
    png = cv2.imdecode(np.frombuffer(c.rgba_png(), np.uint8), cv2.IMREAD_UNCHANGED)
    assert png.shape == (y1 - y0, x1 - x0, 4)
    assert png[..., 3].mean() > 0.3 * 255  # the fruit fills its box (a crescent about a third), not the background


def _disc(h: int, w: int, centre: tuple[int, int], r: int) -> np.ndarray:
    m = np.zeros((h, w), np.uint8)
    cv2.circle(m, centre, r, 255, -1)
    return m


def _cluster() -> np.ndarray:
    """Three touching discs in a triangle, as a photo of three oranges masks."""
    return _disc(240, 240, (85, 150), 42) | _disc(240, 240, (155, 150), 42) | _disc(240, 240, (120, 90), 42)


@pytest.mark.parametrize(
    ("mask", "elongated", "problem"),
    [
        (_disc(200, 200, (100, 100), 60), False, None),
        (_disc(200, 200, (100, 100), 10), False, "no fruit found"),
        (np.full((200, 200), 255, np.uint8), False, "background taken for fruit"),
        (_disc(200, 200, (50, 100), 40) | _disc(200, 200, (150, 100), 40), False, "pieces"),
        (_disc(200, 200, (100, 0), 110), False, "border"),
        (cv2.ellipse(np.zeros((200, 200), np.uint8), (100, 150), (85, 70), 0, 180, 360, 255, 36), True, None),
        (cv2.ellipse(np.zeros((200, 200), np.uint8), (100, 150), (85, 70), 0, 180, 360, 255, 36), False, "ragged"),
        (cv2.ellipse(np.zeros((200, 200), np.uint8), (100, 100), (75, 50), 0, 0, 360, 255, -1), False, None),
        (_cluster(), False, "several fruit"),  # three touching oranges: one piece, solid enough, yet three fruit
        (_cluster(), True, None),  # bananas are not held to a round fruit's shape
    ],
)
def test_check_mask(mask: np.ndarray, elongated: bool, problem: str | None) -> None:
    got = check_mask(mask, elongated)
    if problem is None:
        assert got is None
    else:
        assert got is not None and problem in got


def test_cut_out_refuses_a_photo_with_no_subject() -> None:
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (160, 160, 3), dtype=np.uint8)
    assert not cut_out(noise).ok


# Photos of the shared set (by content: the first 16 hex digits of their sha256) labelled as one fruit that show
# several: three oranges, and three oranges of which one is peeled.
SEVERAL_FRUIT = ("5ed0204f9df48ab6", "a2b1bbece8838cfa", "ebdbb22236348a36")


def test_cut_out_refuses_real_photos_of_several_fruit_and_keeps_single_ones(real_produce: Path) -> None:
    from training.real.sources import single_fruit_photos
    from vision.taxonomy import Taxonomy

    photos = {p.key[:16]: p for p in single_fruit_photos(real_produce, Taxonomy.load()) if p.produce != "banana"}
    for key in SEVERAL_FRUIT:
        c = cut_out(cv2.imread(str(photos[key].path)))
        assert c.problem is not None and "several fruit" in c.problem, (key, c.problem)
    # Single round fruit of the training split pass the new check (a sample, in content order).
    singles = [p for k, p in sorted(photos.items()) if p.split == "train" and k not in SEVERAL_FRUIT][:12]
    refused = [p.key[:16] for p in singles if "several fruit" in (cut_out(cv2.imread(str(p.path))).problem or "")]
    assert refused == []
