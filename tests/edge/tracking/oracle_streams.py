"""Oracle detection streams: `Detections` built from a clip's truth.json (what a perfect detector would see), with
deterministic, seeded damage — box jitter, missed frames, class flicker, false positives — and the scoring of a
counter's output against that truth. Real values through the real counter; no mocks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge.tracking import CameraCounter, Item
from vision.detections import Detections
from vision.frame import Frame
from vision.taxonomy import Taxonomy


@dataclass(frozen=True)
class Damage:
    """What goes wrong with the oracle: box jitter (px, normal sd), share of boxes missed, share of frames whose class
    flips to another condition of the same produce, false positives per frame, confidence range of true boxes."""

    jitter_px: float = 0.0
    miss: float = 0.0
    flicker: float = 0.0
    false_positives: float = 0.0
    conf: tuple[float, float] = (0.6, 0.95)


def load_truth(clip_dir: Path) -> dict:
    """A clip's truth.json."""
    return json.loads((clip_dir / "truth.json").read_text())


def one_hot_scores(taxonomy: Taxonomy, class_id: int, conf: float) -> np.ndarray:
    """Class scores with ``conf`` on the class and a little mass elsewhere (sigmoid outputs do not sum to 1)."""
    scores = np.full(taxonomy.num_classes, 0.01, dtype=np.float32)
    scores[class_id] = conf
    return scores


def detections_from_boxes(
    taxonomy: Taxonomy, boxes: list[list[float]], class_ids: list[int], confs: list[float], truth_ids: list[int]
) -> Detections:
    """Detections with class scores, freshness from those scores, and the truth id of each box in ``data``."""
    if not boxes:
        d = Detections.empty()
        return Detections(d.xyxy, d.confidence, d.class_id, d.freshness, None,
                          {"class_scores": np.zeros((0, taxonomy.num_classes), np.float32),
                           "truth_id": np.zeros(0, np.int64)})
    cls = np.asarray(class_ids, dtype=np.int64)
    scores = np.stack([one_hot_scores(taxonomy, c, s) for c, s in zip(class_ids, confs)])
    return Detections(
        xyxy=np.asarray(boxes, dtype=np.float32),
        confidence=np.asarray(confs, dtype=np.float32),
        class_id=cls,
        freshness=taxonomy.freshness(scores, cls),
        data={"class_scores": scores, "truth_id": np.asarray(truth_ids, dtype=np.int64)},
    )


def oracle_stream(
    truth: dict, taxonomy: Taxonomy, damage: Damage = Damage(), seed: int = 0, camera_id: str = "cam"
) -> Iterator[tuple[Frame, Detections]]:
    """Frames (a blank image of the clip's size) and the oracle's detections, frame by frame."""
    rng = np.random.default_rng(seed)
    w, h = int(truth["width"]), int(truth["height"])
    image = np.zeros((h, w, 3), dtype=np.uint8)
    per_frame: list[list[tuple[int, list[float], int]]] = [[] for _ in range(int(truth["frames"]))]
    for item in truth["items"]:
        for k, box in zip(item["frames"], item["boxes"]):
            per_frame[k].append((int(item["id"]), box, int(item["class_id"])))
    n_cond = len(taxonomy.conditions)
    for k, entries in enumerate(per_frame):
        boxes, classes, confs, tids = [], [], [], []
        for tid, box, cid in entries:
            if rng.random() < damage.miss:
                continue
            b = np.asarray(box, dtype=np.float64) + rng.normal(0, damage.jitter_px, 4) * (damage.jitter_px > 0)
            b = np.clip(b, [0, 0, 0, 0], [w, h, w, h])
            if b[2] - b[0] < 2 or b[3] - b[1] < 2:
                continue
            if rng.random() < damage.flicker:
                p, c = divmod(cid, n_cond)
                cid = p * n_cond + int((c + rng.integers(1, n_cond)) % n_cond)
            boxes.append(b.tolist())
            classes.append(cid)
            confs.append(float(rng.uniform(*damage.conf)))
            tids.append(tid)
        for _ in range(int(rng.poisson(damage.false_positives))):
            s = float(rng.uniform(30, 90))
            x, y = float(rng.uniform(0, w - s)), float(rng.uniform(0, h - s))
            boxes.append([x, y, x + s, y + s])
            classes.append(int(rng.integers(taxonomy.num_classes)))
            confs.append(float(rng.uniform(0.3, 0.7)))
            tids.append(-1)
        frame = Frame(camera_id=camera_id, seq=k, captured_at=k / float(truth["fps"]), image=image)
        yield frame, detections_from_boxes(taxonomy, boxes, classes, confs, tids)


def crossing_truth(truth: dict, line_x: float) -> dict[int, dict]:
    """Truth items whose visible box centre crosses ``x = line_x`` (left to right) within the clip, by id."""
    out = {}
    for item in truth["items"]:
        cx = [(b[0] + b[2]) / 2 for b in item["boxes"]]
        if cx and cx[0] < line_x <= cx[-1]:
            out[int(item["id"])] = item
    return out


@dataclass
class Score:
    """A counting run scored against truth."""

    truth: dict[str, int] = field(default_factory=dict)  # produce -> items crossing
    counted: dict[str, int] = field(default_factory=dict)  # produce -> items counted
    duplicates: int = 0  # truth items counted more than once
    missed: int = 0  # crossing truth items never counted
    spurious: int = 0  # counted items that are no crossing truth item (false positives, pre-crossed items)
    wrong_produce: int = 0
    flag_tp: int = 0
    flag_fp: int = 0
    flag_fn: int = 0

    @property
    def flag_precision(self) -> float:
        return self.flag_tp / max(1, self.flag_tp + self.flag_fp)

    @property
    def flag_recall(self) -> float:
        return self.flag_tp / max(1, self.flag_tp + self.flag_fn)

    def worst_error(self) -> float:
        """The largest |counted - truth| / truth over produce kinds."""
        return max(abs(self.counted.get(p, 0) - n) / max(n, 1) for p, n in self.truth.items())


def run_counter(
    counter: CameraCounter, stream: Iterator[tuple[Frame, Detections]]
) -> tuple[list[Item], dict[int, dict[int, int]]]:
    """Feed a stream through the counter; returns the items handed on and, per item id, how many of its boxes came
    from each truth id (-1: a false positive)."""
    items: list[Item] = []
    sources: dict[int, dict[int, int]] = {}
    for frame, dets in stream:
        result = counter.update(frame, dets)
        items.extend(result.counted)
        for iid, tid in zip(result.tracked.tracker_id, result.tracked.data["truth_id"]):
            votes = sources.setdefault(int(iid), {})
            votes[int(tid)] = votes.get(int(tid), 0) + 1
    items.extend(counter.flush())
    return items, sources


def score(items: list[Item], sources: dict[int, dict[int, int]], truth: dict, line_x: float) -> Score:
    """Score counted items against the truth items that cross the line. An item is the truth item most of its boxes
    came from; a truth item counted by two items is a duplicate. Flags are scored per truth item (spoiled = any
    condition but fresh)."""
    crossing = crossing_truth(truth, line_x)
    all_truth = {int(i["id"]): i for i in truth["items"]}
    s = Score()
    for item in crossing.values():
        s.truth[item["produce"]] = s.truth.get(item["produce"], 0) + 1
    hits: dict[int, int] = {}
    flagged_truth: set[int] = set()
    for it in items:
        s.counted[it.produce] = s.counted.get(it.produce, 0) + 1
        votes = sources.get(it.track_id, {})
        tid = max(votes, key=lambda t: (votes[t], -t)) if votes else -1
        if tid not in crossing:
            s.spurious += 1
        else:
            hits[tid] = hits.get(tid, 0) + 1
            if crossing[tid]["produce"] != it.produce:
                s.wrong_produce += 1
        spoiled = tid in all_truth and all_truth[tid]["condition"] != "fresh"
        if it.flagged and spoiled:
            if tid not in flagged_truth:
                s.flag_tp += 1
            flagged_truth.add(tid)
        elif it.flagged:
            s.flag_fp += 1
    s.duplicates = sum(n - 1 for n in hits.values() if n > 1)
    s.missed = sum(1 for tid in crossing if tid not in hits)
    s.flag_fn = sum(1 for tid, t in crossing.items() if t["condition"] != "fresh" and tid not in flagged_truth)
    return s


# --- scripted streams: hand-made item paths for the failure-mode tests ------------------------------------------

W, H = 640, 360
Box = tuple[list[float], int, float, int]  # xyxy, class id, confidence, truth id


def item_path(
    truth_id: int, class_id: int, x0: float, y: float, size: float, step: float, frames: range, conf: float = 0.85,
    wh: tuple[int, int] = (W, H),
) -> dict[int, Box]:
    """A square item of ``size`` px whose left edge is at ``x0`` at frame ``frames.start`` and moves ``step`` px per
    frame; boxes are cut to the frame and dropped while less than 40 % of the item shows (as the clip labels do)."""
    out: dict[int, Box] = {}
    w, _ = wh
    for k in frames:
        left = x0 + step * (k - frames.start)
        a, b = max(0.0, left), min(float(w), left + size)
        if b - a >= 0.4 * size:
            out[k] = ([a, y, b, y + size], class_id, conf, truth_id)
    return out


def scripted(
    taxonomy: Taxonomy, paths: list[dict[int, Box]], n_frames: int, camera_id: str = "cam",
    image: np.ndarray | None = None, tags: dict[str, str] | None = None,
) -> list[tuple[Frame, Detections]]:
    """Frames 0..n-1 with the boxes of every path present at that frame."""
    img = np.zeros((H, W, 3), np.uint8) if image is None else image
    stream = []
    for k in range(n_frames):
        boxes = [p[k] for p in paths if k in p]
        dets = detections_from_boxes(
            taxonomy, [b[0] for b in boxes], [b[1] for b in boxes], [b[2] for b in boxes], [b[3] for b in boxes]
        )
        stream.append((Frame(camera_id, k, k / 15.0, img, dict(tags or {})), dets))
    return stream


def truth_ids_counted(items: list[Item], sources: dict[int, dict[int, int]]) -> list[int]:
    """The truth id behind each counted item (most of its boxes), sorted; -1 for a false positive."""
    out = []
    for it in items:
        votes = sources.get(it.track_id, {})
        out.append(max(votes, key=lambda t: (votes[t], -t)) if votes else -1)
    return sorted(out)
