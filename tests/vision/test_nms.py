"""Grouped greedy NMS: hand-made cases with known answers, and agreement with torchvision's batched NMS."""

from __future__ import annotations

import numpy as np
import pytest

from vision.errors import InputError
from vision.nms import MAX_PAIRWISE, box_iou, nms, nms_per_image

A = [0.0, 0.0, 10.0, 10.0]
A_SHIFTED = [1.0, 0.0, 11.0, 10.0]  # IoU with A = 90 / 110
FAR = [50.0, 50.0, 60.0, 60.0]
HALF = [0.0, 0.0, 10.0, 5.0]  # IoU with A = exactly 0.5


@pytest.mark.parametrize(
    ("boxes", "scores", "groups", "iou", "max_det", "kept"),
    [
        ([A, A_SHIFTED], [0.9, 0.8], [0, 0], 0.5, 300, [0]),  # same group, overlapping: lower score goes
        ([A, A_SHIFTED], [0.8, 0.9], [0, 0], 0.5, 300, [1]),  # the better one stays, whatever its position
        ([A, A_SHIFTED], [0.9, 0.8], [0, 1], 0.5, 300, [0, 1]),  # different groups never suppress each other
        ([A, A_SHIFTED], [0.9, 0.8], None, 0.5, 300, [0]),  # no groups: class-agnostic
        ([A, A_SHIFTED], [0.9, 0.8], [0, 0], 0.95, 300, [0, 1]),  # IoU 0.82 is under a 0.95 threshold
        ([A, HALF], [0.9, 0.8], [0, 0], 0.5, 300, [0, 1]),  # IoU == threshold is kept (suppress only if greater)
        ([A, HALF], [0.9, 0.8], [0, 0], 0.49, 300, [0]),
        ([FAR, A, A_SHIFTED], [0.5, 0.9, 0.8], [0, 0, 0], 0.5, 300, [1, 0]),  # output is best-first
        ([FAR, A, A_SHIFTED], [0.5, 0.9, 0.8], [0, 0, 1], 0.5, 2, [1, 2]),  # max_det keeps the best
        ([A, A], [0.7, 0.7], [0, 0], 0.5, 300, [0]),  # a score tie keeps the earlier box
        ([], [], [], 0.5, 300, []),
        ([A], [0.9], [0], 0.5, 0, []),
        ([[0, 0, 0, 0], [0, 0, 0, 0]], [0.9, 0.8], [0, 0], 0.5, 300, [0, 1]),  # empty boxes never overlap
    ],
)
def test_nms_table(
    boxes: list, scores: list, groups: list | None, iou: float, max_det: int, kept: list[int]
) -> None:
    result = nms(
        np.array(boxes, np.float32).reshape(-1, 4),
        np.array(scores, np.float32),
        None if groups is None else np.array(groups),
        iou,
        max_det,
    )
    assert result.dtype == np.int64
    assert result.tolist() == kept


def test_groups_stay_apart_beyond_ultralytics_offset() -> None:
    # Coordinates past 7680 (ultralytics' per-class shift) must not leak boxes into the next group.
    big = np.array([[9000, 100, 9400, 500], [9000, 100, 9400, 500], [9010, 100, 9400, 500]], np.float32)
    kept = nms(big, np.array([0.9, 0.8, 0.7], np.float32), np.array([0, 1, 1]), 0.5, 300)
    assert kept.tolist() == [0, 1]


@pytest.mark.parametrize(
    ("boxes", "scores", "groups", "iou", "max_det", "message"),
    [
        (np.zeros((3, 5)), np.zeros(3), None, 0.5, 10, r"xyxy must be \(N, 4\)"),
        (np.zeros((3, 4)), np.zeros(2), None, 0.5, 10, r"scores must be \(3,\)"),
        (np.zeros((3, 4)), np.zeros(3), np.zeros(2), 0.5, 10, r"groups must be \(3,\)"),
        (np.zeros((3, 4)), np.zeros(3), None, 1.5, 10, "iou_threshold"),
        (np.zeros((3, 4)), np.zeros(3), None, 0.5, -1, "max_det"),
    ],
)
def test_nms_rejects_bad_arguments(
    boxes: np.ndarray, scores: np.ndarray, groups: np.ndarray | None, iou: float, max_det: int, message: str
) -> None:
    with pytest.raises(InputError, match=message):
        nms(boxes, scores, groups, iou, max_det)


def random_boxes(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 600, (n, 2))
    wh = rng.uniform(5, 120, (n, 2))
    boxes = np.concatenate([xy, xy + wh], axis=1).astype(np.float32)
    return boxes, rng.uniform(0, 1, n).astype(np.float32), rng.integers(0, 4, n)


@pytest.mark.parametrize("n", [400, MAX_PAIRWISE + 200], ids=["pairwise", "one-by-one"])
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("iou", [0.3, 0.6])
def test_matches_torchvision_batched_nms(seed: int, iou: float, n: int) -> None:
    torch = pytest.importorskip("torch")
    torchvision = pytest.importorskip("torchvision")
    boxes, scores, groups = random_boxes(n, seed)
    expected = torchvision.ops.batched_nms(
        torch.from_numpy(boxes), torch.from_numpy(scores), torch.from_numpy(groups), iou
    ).numpy()
    assert nms(boxes, scores, groups, iou, 10_000).tolist() == expected.tolist()
    agnostic = torchvision.ops.nms(torch.from_numpy(boxes), torch.from_numpy(scores), iou).numpy()
    assert nms(boxes, scores, None, iou, 10_000).tolist() == agnostic.tolist()


def test_box_iou() -> None:
    iou = box_iou(np.array([A, FAR], np.float32), np.array([A, A_SHIFTED, HALF, [0, 0, 0, 0]], np.float32))
    assert iou.shape == (2, 4)
    assert np.allclose(iou[0], [1.0, 90 / 110, 0.5, 0.0])
    assert np.allclose(iou[1], 0.0)


@pytest.mark.parametrize("sizes", [[30, 0, 25, 40], [0, 0], [MAX_PAIRWISE + 100, 20], [300, 300, 10], [5], []])
@pytest.mark.parametrize("grouped", [True, False], ids=["groups", "agnostic"])
@pytest.mark.parametrize("max_det", [3, 10_000])
def test_nms_per_image_is_nms_of_each_image(sizes: list[int], grouped: bool, max_det: int) -> None:
    """A batch's boxes image after image, in one call: exactly `nms` of each image, concatenated (indices into the
    batch), whether images share a chunk of the pairwise pass or not, and each image shifting its groups apart by
    its own span (the second image's coordinates are beyond ultralytics' offset)."""
    parts = [random_boxes(n, seed) for seed, n in enumerate(sizes)]
    if len(parts) > 1:
        parts[1][0][:] *= 20  # spans past 7,680
    bounds = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    expected = [nms(b, s, g if grouped else None, 0.5, max_det) + start
                for (b, s, g), start in zip(parts, bounds[:-1])]
    boxes = np.concatenate([b for b, _, _ in parts]) if parts else np.zeros((0, 4), np.float32)
    scores = np.concatenate([s for _, s, _ in parts]) if parts else np.zeros(0, np.float32)
    groups = np.concatenate([g for _, _, g in parts]) if parts else np.zeros(0, int)
    got = nms_per_image(boxes, scores, groups if grouped else None, bounds, 0.5, max_det)
    assert got.tolist() == (np.concatenate(expected).tolist() if expected else [])
    assert got.dtype == np.int64


@pytest.mark.parametrize("bounds", [[1, 3], [0, 2], [0, 3, 2, 3], [[0, 3]]])
def test_nms_per_image_rejects_bounds_that_do_not_cover_the_boxes(bounds: list[int]) -> None:
    with pytest.raises(InputError, match="image_starts must rise from 0 to 3"):
        nms_per_image(np.zeros((3, 4)), np.zeros(3), None, np.array(bounds), 0.5, 10)
