"""`qc pool-folds`: per-fold `qc eval-photos` reports pooled by their counts, not by a mean of shares."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from training.real.fold_pool import pool_fold_reports


def _report(split: str, rows: dict[str, tuple[int, int, int, int]], boxes: int, detections: int, matched: int,
            clutter_boxes: int) -> dict[str, Any]:
    """A report shaped as `qc eval-photos --json` writes it; rows are (photos, box, right produce, flagged) counts."""
    per = {name: {"photos": n, "box": round(b / n, 3), "right_produce": round(r / n, 3),
                  "right_produce_detector_alone": 0.0, "flagged": round(f / n, 3)}
           for name, (n, b, r, f) in rows.items()}
    return {"model": "m.onnx", "grader": "g.onnx", "split": split,
            "single_fruit": {"per_class": per, "overall": {}},
            "boxed": {"photos": 3, "per_produce": {},
                      "overall": {"boxes": boxes, "precision": round(matched / detections, 3),
                                  "recall": round(matched / boxes, 3), "detections": detections, "flagged": 0.0}},
            "clutter": {"photos": 2, "boxes": clutter_boxes, "flagged": 0, "vetoed": 0, "per_photo": {}}}


def test_pooling_sums_counts_so_a_larger_fold_weighs_more() -> None:
    small = _report("fold:0/5", {"apple_rotten": (3, 3, 1, 2), "apple_fresh": (4, 4, 4, 1)}, 10, 12, 6, 0)
    large = _report("fold:3/5", {"apple_rotten": (9, 9, 9, 9), "apple_fresh": (7, 7, 7, 0)}, 30, 28, 27, 1)
    pooled = pool_fold_reports([small, large])
    rotten = pooled["single_fruit"]["per_class"]["apple_rotten"]
    assert rotten == {"photos": 12, "box": 1.0, "right_produce": round(10 / 12, 3), "flagged": round(11 / 12, 3)}
    # A mean of the folds' shares would say (1/3 + 1) / 2 = 0.667 right for rotten apples: counts say 10 of 12.
    assert rotten["right_produce"] != round((1 / 3 + 1) / 2, 3)
    overall = pooled["single_fruit"]["overall"]
    assert overall["photos"] == 23 and overall["right_produce"] == round(21 / 23, 3)
    assert overall["spoiled_flagged"] == round(11 / 12, 3) and overall["fresh_flagged"] == round(1 / 11, 3)
    assert pooled["boxed"] == {"boxes": 40, "detections": 40, "precision": round(33 / 40, 3),
                               "recall": round(33 / 40, 3)}
    assert pooled["clutter"] == {"photos": 4, "boxes": 1, "flagged": 0}
    assert pooled["k"] == 5 and pooled["folds"] == ["fold:0/5", "fold:3/5"]


@pytest.mark.parametrize(("splits", "message"), [
    (["fold:1/5", "fold:1/5"], "fold 1 given twice"),
    (["fold:1/5", "fold:2/4"], "different K"),
    (["fold:1/5", "val"], "only fold:I/K"),
])
def test_pooling_refuses_what_would_count_photos_twice_or_mix_splits(splits: list[str], message: str) -> None:
    reports = [_report(s, {"apple_fresh": (2, 2, 2, 0)}, 2, 2, 2, 0) for s in splits]
    with pytest.raises(ValueError, match=message):
        pool_fold_reports(reports)


def test_cli_pools_report_files_and_names_a_bad_one(tmp_path: Path) -> None:
    qc = Path(sys.executable).with_name("qc")
    files = []
    for i, split in enumerate(["fold:0/3", "fold:1/3", "fold:2/3"]):
        path = tmp_path / f"f{i}.json"
        path.write_text(json.dumps(_report(split, {"orange_rotten": (5, 5, 4 - i, 5)}, 6, 6, 5, 0)))
        files.append(str(path))
    r = subprocess.run([str(qc), "pool-folds", *files, "--json"], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "YOLO_OFFLINE": "1"})
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["single_fruit"]["per_class"]["orange_rotten"]["right_produce"] == round(9 / 15, 3)
    r = subprocess.run([str(qc), "pool-folds", *files], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "overall (15 photos)" in r.stdout
    (tmp_path / "bad.json").write_text("{")
    r = subprocess.run([str(qc), "pool-folds", files[0], str(tmp_path / "bad.json")], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2 and "bad.json" in r.stderr
    (tmp_path / "partial.json").write_text(json.dumps({"split": "fold:1/3", "single_fruit": {"per_class": {}}}))
    r = subprocess.run([str(qc), "pool-folds", files[0], str(tmp_path / "partial.json")], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2 and "lacks 'boxed'" in r.stderr
