"""`qc eval-photos`: the shipped system's decisions on real photos, per produce and condition.

Each box is decided as the edge decides an item of one view (`training.graded.decide`: the detector's produce vote
with the grader's, the grader's freshness within that produce, flagged as the edge flags at the default threshold).

- single-fruit photos: whether a box is found, whether the most confident box gets the right produce, and the
  share flagged, per ``<produce>_<condition>``;
- boxed photos (all fresh): produce-kind precision and recall at IoU 0.5, per produce, and the share of the
  system's boxes flagged (every one is a false flag);
- clutter photos (no produce): boxes found and boxes flagged (every one is wrong); the same for a folder of the
  user's own photos with no produce (``--clutter-dir``), each in four orientations.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import cv2
import numpy as np

from training.graded import decide, decided
from training.real.quarter_turns import QUARTER_TURNS, turned
from training.real.share_interval import wilson
from training.real.sources import BoxedPhoto, ClutterPhoto, SingleFruitPhoto
from vision.detections import Detections
from vision.errors import InputError
from vision.grader import Grader
from vision.taxonomy import Taxonomy

MATCH_IOU = 0.5


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def ratio(num: int, den: int) -> float | None:
    """``num / den`` rounded as every report rounds a share; None when there is nothing to share."""
    return round(num / den, 3) if den else None


def single_fruit_table(
    photos: Sequence[SingleFruitPhoto], detect: Callable[[np.ndarray], Detections], taxonomy: Taxonomy,
    grader: Grader | None, list_mistakes: bool = False,
) -> dict[str, Any]:
    """Per ``<produce>_<condition>`` and overall: photos, box found, right produce (most confident box), flagged.
    ``list_mistakes`` adds ``mistakes``: each photo with no box, the wrong produce, or a flag that is wrong (a spoiled
    fruit not flagged, a fresh one flagged), with what the system decided. ``per_photo``: each photo's outcome by its
    content key (box found, right produce, flag right), for `qc compare-photos`; ``overall`` → ``interval95``: each
    share's 95 % Wilson interval."""
    fresh = taxonomy.condition_names[0]
    counts: dict[str, Counter] = {}
    mistakes: list[dict[str, Any]] = []
    outcomes: dict[str, dict[str, Any]] = {}
    for p in photos:
        image = cv2.imread(str(p.path), cv2.IMREAD_COLOR)
        decisions = decided(image, detect(image), taxonomy, grader)
        c = counts.setdefault(p.class_name, Counter())
        c["photos"] += 1
        wrong: list[str] = []
        top = max(decisions, key=lambda d: d.confidence) if decisions else None
        if top is None:
            wrong.append("no box")
        else:
            c["box"] += 1
            c["right_produce"] += top.produce == p.produce
            c["right_produce_detector"] += top.detector_produce == p.produce
            c["flagged"] += top.flagged
            if top.produce != p.produce:
                wrong.append("wrong produce")
            if top.flagged == (p.condition == fresh):
                wrong.append("fresh flagged" if top.flagged else "spoiled not flagged")
        outcomes[p.key] = {"truth": p.class_name, "box": top is not None,
                           "right_produce": top is not None and top.produce == p.produce,
                           "flag_right": top is not None and top.flagged != (p.condition == fresh)}
        if wrong:
            mistakes.append({
                "photo": str(p.path), "truth": p.class_name, "mistakes": wrong,
                "decided": None if top is None else f"{top.produce}_{top.condition}",
                "freshness": None if top is None else round(top.freshness, 3),
                "flagged": None if top is None else top.flagged,
                "detector_produce": None if top is None else top.detector_produce,
            })
    rows = {}
    for name, c in sorted(counts.items()):
        rows[name] = {"photos": c["photos"], "box": ratio(c["box"], c["photos"]),
                      "right_produce": ratio(c["right_produce"], c["photos"]),
                      "right_produce_detector_alone": ratio(c["right_produce_detector"], c["photos"]),
                      "flagged": ratio(c["flagged"], c["photos"])}
    total = sum(counts.values(), Counter())
    rotten = sum((c for n, c in counts.items() if not n.endswith("_" + fresh)), Counter())
    fresh_c = sum((c for n, c in counts.items() if n.endswith("_" + fresh)), Counter())
    overall = {"photos": total["photos"], "box": ratio(total["box"], total["photos"]),
               "right_produce": ratio(total["right_produce"], total["photos"]),
               "right_produce_detector_alone": ratio(total["right_produce_detector"], total["photos"]),
               "spoiled_flagged": ratio(rotten["flagged"], rotten["photos"]),
               "fresh_flagged": ratio(fresh_c["flagged"], fresh_c["photos"]),
               # Where a box was found: the grader's and the vote's share, apart from the detector's misses.
               "given_a_box": {"photos": total["box"], "right_produce": ratio(total["right_produce"], total["box"]),
                               "spoiled_flagged": ratio(rotten["flagged"], rotten["box"]),
                               "fresh_flagged": ratio(fresh_c["flagged"], fresh_c["box"])},
               "interval95": {"box": wilson(total["box"], total["photos"]),
                              "right_produce": wilson(total["right_produce"], total["photos"]),
                              "spoiled_flagged": wilson(rotten["flagged"], rotten["photos"]),
                              "fresh_flagged": wilson(fresh_c["flagged"], fresh_c["photos"])}}
    table: dict[str, Any] = {"per_class": rows, "overall": overall, "per_photo": outcomes}
    if list_mistakes:
        table["mistakes"] = mistakes
    return table


def boxed_table(
    photos: Sequence[BoxedPhoto], detect: Callable[[np.ndarray], Detections], taxonomy: Taxonomy,
    grader: Grader | None,
) -> dict[str, Any]:
    """Produce-kind precision and recall at IoU 0.5 per produce (greedy matching by confidence), with the
    detector's own produce beside the system's, and the share of boxes flagged (all photos are fresh). The overall
    ``interval95`` treats boxes as independent, which boxes of one photo are not: read it as a lower bound on the
    uncertainty."""
    tp, fp, gt_n = Counter(), Counter(), Counter()
    tp_d, fp_d = Counter(), Counter()
    boxes = flagged = 0
    for p in photos:
        image = cv2.imread(str(p.path), cv2.IMREAD_COLOR)
        decisions = sorted(decided(image, detect(image), taxonomy, grader), key=lambda d: -d.confidence)
        gts = [(g.produce, np.array([g.x0, g.y0, g.x1, g.y1])) for g in p.boxes]
        for g, _ in gts:
            gt_n[g] += 1
        for which, (tps, fps) in (("system", (tp, fp)), ("detector", (tp_d, fp_d))):
            used: set[int] = set()
            for d in decisions:
                produce = d.produce if which == "system" else d.detector_produce
                best, best_iou = -1, MATCH_IOU
                for j, (g, box) in enumerate(gts):
                    if j not in used and g == produce:
                        iou = _iou(d.box, box)
                        if iou >= best_iou:
                            best, best_iou = j, iou
                if best >= 0:
                    used.add(best)
                    tps[produce] += 1
                else:
                    fps[produce] += 1
        boxes += len(decisions)
        flagged += sum(d.flagged for d in decisions)
    per = {}
    for k in taxonomy.produce:
        if gt_n[k] or tp[k] or fp[k]:
            per[k] = {"boxes": gt_n[k], "precision": ratio(tp[k], tp[k] + fp[k]), "recall": ratio(tp[k], gt_n[k]),
                      "detector_alone": {"precision": ratio(tp_d[k], tp_d[k] + fp_d[k]),
                                         "recall": ratio(tp_d[k], gt_n[k])}}
    all_tp, all_fp, all_gt = sum(tp.values()), sum(fp.values()), sum(gt_n.values())
    return {"photos": len(photos), "per_produce": per,
            "overall": {"boxes": all_gt, "precision": ratio(all_tp, all_tp + all_fp), "recall": ratio(all_tp, all_gt),
                        "detections": boxes, "flagged": ratio(flagged, boxes),
                        "interval95": {"precision": wilson(all_tp, all_tp + all_fp),
                                       "recall": wilson(all_tp, all_gt)}}}


def clutter_table(
    photos: Sequence[ClutterPhoto], detect: Callable[[np.ndarray], Detections], taxonomy: Taxonomy,
    grader: Grader | None, quarter_turns: bool = False,
) -> dict[str, Any]:
    """Boxes and flags on photos with no produce (every one is wrong); with ``quarter_turns`` each photo is looked
    at in its four orientations (a camera overhead sees clutter lying at any angle), and its row sums them."""
    found = flagged = vetoed = views = 0
    per: dict[str, int] = {}
    for p in photos:
        image = cv2.imread(str(p.path), cv2.IMREAD_COLOR)
        if image is None:
            raise InputError(f"{p.path} is not an image OpenCV can read")
        per[p.path.name] = 0
        for turn in QUARTER_TURNS if quarter_turns else (None,):
            view = turned(image, turn)
            every = decide(view, detect(view), taxonomy, grader)
            decisions = [d for d in every if not d.vetoed]
            vetoed += len(every) - len(decisions)
            found += len(decisions)
            flagged += sum(d.flagged for d in decisions)
            per[p.path.name] += len(decisions)
            views += 1
    # vetoed: boxes the detector found and the grader called no produce (right, and never counted)
    return {"photos": len(photos), "views": views, "boxes": found, "flagged": flagged, "vetoed": vetoed,
            "per_photo": per}
