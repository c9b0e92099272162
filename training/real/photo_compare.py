"""`qc compare-photos`: two models' single-fruit outcomes on the same photos, paired photo by photo.

Two shares measured on the same 79 photos are not independent samples: most photos are right (or wrong) for both
models, and only the photos where they disagree say which is better. For each outcome (a box found, the right
produce, the flag right: a spoiled fruit flagged or a fresh one not), this counts the photos only the first model
gets right and only the second does, and gives the exact McNemar p-value of that split
(`training.real.share_interval.mcnemar_p`). It reads `qc eval-photos --json` reports (or `qc pool-folds --json` of
them); their ``per_photo`` outcomes are keyed by the photo's content, so the two reports must hold the same photos.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from training.real.share_interval import mcnemar_p

OUTCOMES = ("box", "right_produce", "flag_right")


def per_photo(report: dict[str, Any], name: str) -> dict[str, dict[str, Any]]:
    """The report's per-photo single-fruit outcomes; ValueError naming ``name`` when it has none (a report written
    before `qc eval-photos` kept them, or not a report at all)."""
    single = report.get("single_fruit") if isinstance(report, dict) else None
    photos = single.get("per_photo") if isinstance(single, dict) else None
    if not isinstance(photos, dict) or not photos:
        raise ValueError(f"{name}: no per-photo outcomes (single_fruit.per_photo): give a qc eval-photos --json "
                         "report of this version, or qc pool-folds --json of such reports")
    return photos


def compare_outcomes(a: dict[str, dict[str, Any]], b: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Per outcome: photos, right by each model, right by both, by ``a`` only, by ``b`` only, and the exact McNemar
    p-value; ValueError when the two hold different photos (a paired test needs the same ones)."""
    if set(a) != set(b):
        only_a, only_b = len(set(a) - set(b)), len(set(b) - set(a))
        raise ValueError(f"the reports hold different photos ({only_a} only in the first, {only_b} only in the "
                         "second): compare two models on the same split")
    rows: dict[str, Any] = {}
    for outcome in OUTCOMES:
        c: Counter[str] = Counter()
        for key, ra in a.items():
            right_a, right_b = bool(ra[outcome]), bool(b[key][outcome])
            c["a"] += right_a
            c["b"] += right_b
            c["both"] += right_a and right_b
            c["only_a"] += right_a and not right_b
            c["only_b"] += right_b and not right_a
        rows[outcome] = {"photos": len(a), "right_a": c["a"], "right_b": c["b"], "both": c["both"],
                         "only_a": c["only_a"], "only_b": c["only_b"], "p": mcnemar_p(c["only_a"], c["only_b"])}
    return rows
