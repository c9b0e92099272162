"""Counted items scored against a `qc synth clip` truth.json: counts per produce, duplicates, flag precision/recall.

A truth item *crosses* when the centre of its first labelled box is upstream of the line and that of its last is
not (the clip labels an item only while >= 40 % of it shows). Counted items are paired one to one with the truth
items whose box in the item's best frame overlaps their best box (IoU >= `MATCH_IOU`, or one box lies inside the
other: `MATCH_IOS`; `match_items`); two counted items on one truth item are a duplicate, a counted item on no
crossing truth item is spurious. Flags are scored per item: precision over flagged counted items, recall over the
crossing truth items that are not fresh.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from edge.tracking.boxes import overlap_of_smaller
from edge.tracking.item import Item
from edge.tracking.line import CountingLine

MATCH_IOU = 0.3
MATCH_IOS = 0.7  # or a box mostly inside the truth box (or around it): a half-item box on a long banana


def crossing_items(truth: Mapping[str, Any], line: CountingLine) -> dict[int, Mapping[str, Any]]:
    """Truth items whose labelled box centre crosses ``line`` downstream within the clip, by id."""
    out: dict[int, Mapping[str, Any]] = {}
    for item in truth["items"]:
        boxes = np.asarray(item["boxes"], dtype=np.float64).reshape(-1, 4)
        if len(boxes) == 0:
            continue
        along = line.along((boxes[:, :2] + boxes[:, 2:]) / 2)
        if along[0] < 0 <= along[-1]:
            out[int(item["id"])] = item
    return out


def _truth_boxes_by_frame(truth: Mapping[str, Any]) -> dict[int, list[tuple[int, list[float]]]]:
    frames: dict[int, list[tuple[int, list[float]]]] = {}
    for item in truth["items"]:
        for k, box in zip(item["frames"], item["boxes"]):
            frames.setdefault(int(k), []).append((int(item["id"]), box))
    return frames


def _iou(a: Sequence[float], b: Sequence[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def match_items(items: Sequence[Item], truth: Mapping[str, Any]) -> list[int | None]:
    """The truth id of each counted item, or None when its box matches no truth box.

    A counted item's candidates are the truth items whose box in the item's best frame overlaps its best box
    (IoU >= `MATCH_IOU`, or one box mostly inside the other: `MATCH_IOS`). Counted and truth items are paired one to
    one, as many pairs as possible and then the most overlap (scipy's assignment, as multi-object tracking metrics
    pair them): one item whose box spans two touching truth items takes the one no better box claims, instead of
    both landing on the same truth item. An item whose candidates are all taken keeps its best one: a duplicate.
    """
    frames = _truth_boxes_by_frame(truth)
    candidates: list[dict[int, float]] = []
    for it in items:
        mine = np.asarray(it.best_box, dtype=np.float64)
        overlaps = {tid: (_iou(mine, box), box) for tid, box in frames.get(it.best_seq, [])}
        candidates.append({
            tid: iou for tid, (iou, box) in overlaps.items()
            if iou >= MATCH_IOU or overlap_of_smaller(mine, np.asarray(box, dtype=np.float64)) >= MATCH_IOS
        })
    tids = sorted({tid for c in candidates for tid in c})
    out: list[int | None] = [max(c, key=lambda t: (c[t], t)) if c else None for c in candidates]
    if not tids:
        return out
    pair_bonus = len(items) + 1.0  # any extra pair outweighs all the overlap the pairing could gain
    gain = np.zeros((len(items), len(tids)))
    for i, c in enumerate(candidates):
        for j, tid in enumerate(tids):
            if tid in c:
                gain[i, j] = pair_bonus + c[tid]
    rows, cols = linear_sum_assignment(gain, maximize=True)
    for i, j in zip(rows, cols):
        if gain[i, j] > 0:
            out[i] = tids[j]
    return out


def score_against_truth(items: Sequence[Item], truth: Mapping[str, Any], line: CountingLine) -> dict[str, Any]:
    """Per produce kind: truth crossings, counted, spoiled in truth, flagged; plus duplicates, missed, spurious,
    produce errors, flag precision and recall, and the largest relative count error over produce kinds; ``errors``
    names the items behind each of the four error counts (truth ids, the counter's track ids, frames)."""
    crossing = crossing_items(truth, line)
    fresh = "fresh"
    matched = match_items(items, truth)
    per: dict[str, dict[str, int]] = {}

    def row(produce: str) -> dict[str, int]:
        return per.setdefault(produce, {"truth": 0, "counted": 0, "truth_spoiled": 0, "flagged": 0})

    for t in crossing.values():
        r = row(str(t["produce"]))
        r["truth"] += 1
        r["truth_spoiled"] += t["condition"] != fresh
    tracks: dict[int, list[int]] = {}  # truth id -> the counted items on it, in count order
    spurious_items: list[dict[str, Any]] = []
    wrong: list[dict[str, Any]] = []
    flagged_truth: set[int] = set()
    flag_tp = flag_fp = 0
    for it, tid in zip(items, matched):
        r = row(it.produce)
        r["counted"] += 1
        r["flagged"] += it.flagged
        if tid is None or tid not in crossing:
            spurious_items.append({"track_id": it.track_id, "produce": it.produce, "frame": it.best_seq,
                                   "box": [round(float(v), 1) for v in it.best_box]})
        else:
            tracks.setdefault(tid, []).append(it.track_id)
            if crossing[tid]["produce"] != it.produce:
                wrong.append({"track_id": it.track_id, "counted": it.produce, "truth_id": tid,
                              "truth": str(crossing[tid]["produce"])})
        spoiled = tid is not None and tid in crossing and crossing[tid]["condition"] != fresh
        if it.flagged and spoiled and tid not in flagged_truth:
            flag_tp += 1
            flagged_truth.add(tid)  # type: ignore[arg-type]
        elif it.flagged and not spoiled:
            flag_fp += 1
    spoiled_truth = [tid for tid, t in crossing.items() if t["condition"] != fresh]
    errors = [abs(r["counted"] - r["truth"]) / r["truth"] for r in per.values() if r["truth"]]
    return {
        "per_produce": per,
        "truth_total": len(crossing),
        "counted_total": len(items),
        "duplicates": sum(len(t) - 1 for t in tracks.values()),
        "missed": sum(1 for tid in crossing if tid not in tracks),
        "spurious": len(spurious_items),
        "wrong_produce": len(wrong),
        "flag_precision": round(flag_tp / (flag_tp + flag_fp), 4) if flag_tp + flag_fp else None,
        "flag_recall": (
            round(len(flagged_truth & set(spoiled_truth)) / len(spoiled_truth), 4) if spoiled_truth else None
        ),
        "max_count_error": round(max(errors), 4) if errors else 0.0,
        # The counts behind precision and recall, so reports over many clips can be pooled.
        "flag_tp": flag_tp,
        "flag_fp": flag_fp,
        "truth_spoiled": len(spoiled_truth),
        # Which items make up those counts, so a miscount can be found in the clip (frame numbers are the clip's).
        "errors": {
            "counted_twice": [{"truth_id": tid, "produce": str(crossing[tid]["produce"]), "track_ids": t}
                              for tid, t in sorted(tracks.items()) if len(t) > 1],
            "missed": [{"truth_id": tid, "produce": str(t["produce"]), "condition": str(t["condition"]),
                        "frames": [int(t["frames"][0]), int(t["frames"][-1])]}
                       for tid, t in sorted(crossing.items()) if tid not in tracks],
            "spurious": spurious_items,
            "wrong_produce": wrong,
        },
    }
