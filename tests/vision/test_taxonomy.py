"""Taxonomy: class ids, names, and freshness as the expectation of condition values."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vision.errors import TaxonomyError
from vision.taxonomy import Taxonomy


def test_project_taxonomy_has_the_required_kinds_and_conditions(taxonomy: Taxonomy) -> None:
    assert {"apple", "banana", "orange", "tomato"} <= set(taxonomy.produce)
    values = {c.name: c.freshness for c in taxonomy.conditions}
    assert values["fresh"] == 1.0 and values["rotten"] == 0.0
    assert values["fresh"] > values["bruised"] > values["overripe"] > values["rotten"]
    assert taxonomy.num_classes == len(taxonomy.produce) * len(taxonomy.conditions)


def test_class_ids_round_trip(taxonomy: Taxonomy) -> None:
    for cid, name in enumerate(taxonomy.class_names):
        produce, condition = taxonomy.split_class(cid)
        assert name == f"{produce}_{condition}"
        assert taxonomy.class_id(produce, condition) == cid


def test_freshness_is_the_expectation_within_the_produce_kind(taxonomy: Taxonomy) -> None:
    scores = np.zeros((2, taxonomy.num_classes), np.float32)
    banana = taxonomy.produce.index("banana")
    k = len(taxonomy.conditions)
    # Row 0: banana with fresh 0.6, rotten 0.2 -> (0.6*1 + 0.2*0) / 0.8 = 0.75; apple scores must not count.
    scores[0, banana * k + 0] = 0.6
    scores[0, banana * k + 3] = 0.2
    scores[0, 0] = 0.9  # apple_fresh, another kind
    # Row 1: only bruised -> exactly bruised's value.
    scores[1, banana * k + 1] = 0.4
    class_ids = np.array([banana * k + 0, banana * k + 1])
    got = taxonomy.freshness(scores, class_ids)
    np.testing.assert_allclose(got, [0.75, taxonomy.conditions[1].freshness], atol=1e-6)
    assert taxonomy.freshness(np.zeros((0, taxonomy.num_classes)), np.zeros(0, int)).shape == (0,)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("produce: [apple]\n", "malformed taxonomy"),
        ("produce: []\nconditions: [{name: fresh, freshness: 1}]\n", "at least one produce"),
        ("produce: [a, a]\nconditions: [{name: fresh, freshness: 1}]\n", "duplicate names"),
        ("produce: [a]\nconditions: [{name: fresh, freshness: 1.5}]\n", "outside [0, 1]"),
        ("- just a list\n", "expected a mapping"),
        ("produce: [a\n", "not valid YAML"),
    ],
)
def test_bad_taxonomy_files_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "taxonomy.yaml"
    path.write_text(text)
    with pytest.raises(TaxonomyError, match=message.replace("[", r"\[").replace("]", r"\]")):
        Taxonomy.load(path)


def test_missing_taxonomy_file(tmp_path: Path) -> None:
    with pytest.raises(TaxonomyError, match="not found"):
        Taxonomy.load(tmp_path / "nope.yaml")


def test_unknown_names_and_ids(taxonomy: Taxonomy) -> None:
    with pytest.raises(TaxonomyError, match="unknown produce/condition"):
        taxonomy.class_id("kiwi", "fresh")
    with pytest.raises(TaxonomyError, match="outside"):
        taxonomy.split_class(taxonomy.num_classes)
