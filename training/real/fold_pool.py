"""Pooling `qc eval-photos --split fold:I/K` reports: one estimate over every fold's photos instead of K small ones.

Each report gives shares beside the counts they are shares of (``photos`` per class; ``boxes`` and ``detections``
for the boxed photos), so the pooled figure is counts summed over folds, not a mean of shares: a fold of 40 photos
weighs twice a fold of 20. Shares are rounded to 3 decimals in a report, which recovers a count exactly for up to
1,000 photos a row.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from training.real.photo_eval import ratio
from training.real.share_interval import wilson
from training.real.sources import check_split
from training.real.split import Fold


def _count(share: float | None, n: int) -> int:
    return 0 if share is None else round(share * n)


def check_folds(splits: Sequence[str]) -> list[Fold]:
    """The folds ``splits`` name, when they are distinct folds ``fold:I/K`` of one K; ValueError naming the problem
    otherwise."""
    folds = []
    for split in splits:
        fold = check_split(split)
        if fold is None:
            raise ValueError(f"a report of split {split!r}: only fold:I/K reports are pooled")
        folds.append(fold)
    ks = {f.count for f in folds}
    if len(ks) != 1:
        raise ValueError(f"reports of folds of different K: {sorted(ks)}")
    seen = Counter(f.index for f in folds)
    twice = sorted(i for i, n in seen.items() if n > 1)
    if twice:
        raise ValueError(f"fold {twice[0]} given twice: each fold's photos count once")
    return folds


def pool_fold_reports(reports: Sequence[dict[str, Any]], fresh: str = "fresh") -> dict[str, Any]:
    """Single-fruit, boxed and clutter figures over the photos of every report (each one `qc eval-photos --json`
    of a fold; ``fresh`` is the taxonomy's fresh condition, rows ``<produce>_<fresh>`` are the fresh photos);
    ValueError for reports that are not distinct folds of one K, KeyError for one that lacks a section."""
    if not reports:
        raise ValueError("no reports to pool")
    folds = check_folds([r["split"] for r in reports])
    per: dict[str, Counter] = {}
    boxed, clutter = Counter(), Counter()
    outcomes: dict[str, Any] = {}  # folds hold distinct photos, so their per-photo outcomes simply join
    for r in reports:
        outcomes.update(r["single_fruit"].get("per_photo", {}))
        for name, row in r["single_fruit"]["per_class"].items():
            c = per.setdefault(name, Counter())
            n = row["photos"]
            c["photos"] += n
            for key in ("box", "right_produce", "flagged"):
                c[key] += _count(row[key], n)
        b = r["boxed"]["overall"]
        boxed["boxes"] += b["boxes"]
        boxed["detections"] += b["detections"]
        boxed["matched"] += _count(b["recall"], b["boxes"])
        clutter["photos"] += r["clutter"]["photos"]
        clutter["boxes"] += r["clutter"]["boxes"]
        clutter["flagged"] += r["clutter"]["flagged"]
    rows = {name: {"photos": c["photos"], "box": ratio(c["box"], c["photos"]),
                   "right_produce": ratio(c["right_produce"], c["photos"]),
                   "flagged": ratio(c["flagged"], c["photos"])} for name, c in sorted(per.items())}
    total = sum(per.values(), Counter())
    spoiled = sum((c for n, c in per.items() if not n.endswith("_" + fresh)), Counter())
    fresh_c = sum((c for n, c in per.items() if n.endswith("_" + fresh)), Counter())
    return {
        "folds": [f"fold:{f}" for f in sorted(folds, key=lambda f: f.index)], "k": folds[0].count,
        "models": sorted({f"{r['model']} + {r['grader']}" for r in reports}),
        "single_fruit": {"per_class": rows, "overall": {
            "photos": total["photos"], "box": ratio(total["box"], total["photos"]),
            "right_produce": ratio(total["right_produce"], total["photos"]),
            "spoiled_flagged": ratio(spoiled["flagged"], spoiled["photos"]),
            "fresh_flagged": ratio(fresh_c["flagged"], fresh_c["photos"]),
            "interval95": {"box": wilson(total["box"], total["photos"]),
                           "right_produce": wilson(total["right_produce"], total["photos"]),
                           "spoiled_flagged": wilson(spoiled["flagged"], spoiled["photos"]),
                           "fresh_flagged": wilson(fresh_c["flagged"], fresh_c["photos"])}},
            # Only when every fold's report kept them (reports written before per-photo outcomes did not).
            "per_photo": outcomes if all("per_photo" in r["single_fruit"] for r in reports) else {}},
        "boxed": {"boxes": boxed["boxes"], "detections": boxed["detections"],
                  "precision": ratio(boxed["matched"], boxed["detections"]),
                  "recall": ratio(boxed["matched"], boxed["boxes"])},
        "clutter": dict(clutter),
    }
