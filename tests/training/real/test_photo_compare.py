"""Intervals on small photo counts and `qc compare-photos`: two models paired photo by photo."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from training.real.fold_pool import pool_fold_reports
from training.real.photo_compare import compare_outcomes, per_photo
from training.real.share_interval import mcnemar_p, wilson


def test_wilson_interval_holds_the_share_and_narrows_with_more_photos() -> None:
    small, large = wilson(19, 21), wilson(190, 210)
    assert small is not None and large is not None
    assert small[0] < 19 / 21 < small[1] and large[0] < 190 / 210 < large[1]
    assert large[1] - large[0] < small[1] - small[0]
    # At the edges the interval stays inside [0, 1] and is not a point: 0 of 8 fresh photos flagged is no proof
    # that fresh fruit is never flagged.
    none_of_8 = wilson(0, 8)
    assert none_of_8 is not None and none_of_8[0] == 0.0 and 0.2 < none_of_8[1] < 0.4
    assert wilson(5, 5) is not None and wilson(5, 5)[1] == 1.0  # type: ignore[index]
    # The textbook value: 69 of 79 -> [0.782, 0.930].
    assert wilson(69, 79) == [0.782, 0.93]
    assert wilson(0, 0) is None
    with pytest.raises(ValueError, match="0 <= 9 <= 8"):
        wilson(9, 8)


def test_mcnemar_counts_only_the_photos_the_models_disagree_on() -> None:
    assert mcnemar_p(0, 0) == 1.0
    assert mcnemar_p(1, 1) == 1.0
    assert mcnemar_p(0, 8) == round(2 * 0.5**8, 4)  # exact: both tails of Binomial(8, 1/2)
    assert mcnemar_p(3, 1) == mcnemar_p(1, 3) > 0.5  # one model right on 2 more of 4 disagreements: noise
    with pytest.raises(ValueError):
        mcnemar_p(-1, 2)


def _outcomes(rights: list[tuple[bool, bool, bool]]) -> dict[str, dict[str, Any]]:
    return {f"k{i}": {"truth": "apple_rotten", "box": b, "right_produce": r, "flag_right": f}
            for i, (b, r, f) in enumerate(rights)}


def test_compare_outcomes_pairs_photos_by_key() -> None:
    a = _outcomes([(True, True, True), (True, False, True), (True, True, False), (False, False, False)])
    b = _outcomes([(True, True, True), (True, True, True), (True, False, False), (True, True, True)])
    rows = compare_outcomes(a, b)
    assert rows["box"] == {"photos": 4, "right_a": 3, "right_b": 4, "both": 3, "only_a": 0, "only_b": 1, "p": 1.0}
    assert rows["right_produce"]["only_a"] == 1 and rows["right_produce"]["only_b"] == 2
    assert rows["right_produce"]["right_a"] == 2 and rows["right_produce"]["right_b"] == 3
    assert rows["flag_right"] == {"photos": 4, "right_a": 2, "right_b": 3, "both": 2, "only_a": 0, "only_b": 1,
                                  "p": 1.0}
    with pytest.raises(ValueError, match="different photos"):
        compare_outcomes(a, {**b, "k9": b["k0"]})
    with pytest.raises(ValueError, match="no per-photo outcomes"):
        per_photo({"single_fruit": {"overall": {}}}, "old.json")


def test_pooled_folds_keep_each_photo_and_an_interval() -> None:
    def report(split: str, outcomes: dict[str, Any]) -> dict[str, Any]:
        return {"model": "m", "grader": "g", "split": split,
                "single_fruit": {"per_class": {"apple_rotten": {"photos": 2, "box": 1.0, "right_produce": 0.5,
                                                                "flagged": 1.0}},
                                 "overall": {}, "per_photo": outcomes},
                "boxed": {"overall": {"boxes": 0, "detections": 0, "recall": None}},
                "clutter": {"photos": 0, "boxes": 0, "flagged": 0}}
    pooled = pool_fold_reports([report("fold:1/5", _outcomes([(True, True, True)] * 2)),
                                report("fold:2/5", {"z0": _outcomes([(True, False, True)])["k0"],
                                                    "z1": _outcomes([(True, True, True)])["k0"]})])
    single = pooled["single_fruit"]
    assert sorted(single["per_photo"]) == ["k0", "k1", "z0", "z1"]
    assert single["overall"]["right_produce"] == 0.5
    assert single["overall"]["interval95"]["right_produce"] == wilson(2, 4)


def test_cli_compare_photos_prints_the_split_and_names_a_bad_report(tmp_path: Path) -> None:
    qc = Path(sys.executable).with_name("qc")
    env = {**os.environ, "YOLO_OFFLINE": "1"}
    a = _outcomes([(True, False, True)] * 6 + [(True, True, True)] * 4)
    b = _outcomes([(True, True, True)] * 10)
    files = []
    for name, outcomes in (("a.json", a), ("b.json", b)):
        path = tmp_path / name
        path.write_text(json.dumps({"split": "dev", "single_fruit": {"per_photo": outcomes}}))
        files.append(str(path))
    r = subprocess.run([str(qc), "compare-photos", *files, "--json"], capture_output=True, text=True, timeout=120,
                       env=env)
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)["outcomes"]
    assert (rows["right_produce"]["only_a"], rows["right_produce"]["only_b"]) == (0, 6)
    assert rows["right_produce"]["p"] == round(2 * 0.5**6, 4) and rows["box"]["p"] == 1.0
    r = subprocess.run([str(qc), "compare-photos", *files], capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0 and "right_produce" in r.stdout and "0.031" in r.stdout
    (tmp_path / "old.json").write_text(json.dumps({"split": "dev", "single_fruit": {"overall": {}}}))
    r = subprocess.run([str(qc), "compare-photos", files[0], str(tmp_path / "old.json")], capture_output=True,
                       text=True, timeout=120, env=env)
    assert r.returncode == 2 and "old.json" in r.stderr and "per-photo" in r.stderr
    (tmp_path / "other.json").write_text(json.dumps({"single_fruit": {"per_photo": _outcomes([(True,) * 3])}}))
    r = subprocess.run([str(qc), "compare-photos", files[0], str(tmp_path / "other.json")], capture_output=True,
                       text=True, timeout=120, env=env)
    assert r.returncode == 2 and "different photos" in r.stderr
    r = subprocess.run([str(qc), "compare-photos", files[0], str(tmp_path / "missing.json")], capture_output=True,
                       text=True, timeout=120, env=env)
    assert r.returncode == 2 and "missing.json" in r.stderr
