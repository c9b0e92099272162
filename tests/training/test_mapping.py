"""Label mapping rules: parsed and checked against the taxonomy, errors naming the rule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from training.importers.mapping import load_mapping, parse_mapping
from vision.errors import QCError
from vision.taxonomy import Taxonomy

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"classes": {"a": {"produce": "apple", "condition": "rotten"}}}, {"a": 3}),
        ({"default_condition": "bruised", "classes": {"b": {"produce": "banana"}}}, {"b": 5}),
        ({"classes": {"t": "tomato_overripe", "p": "ignore"}}, {"t": 14, "p": None}),
        ({"classes": {1: "orange_fresh"}}, {"1": 8}),
        ({"classes": {"a": {"produce": "pear", "condition": "fresh"}}}, "rule 'a': unknown produce 'pear'"),
        ({"classes": {"a": {"produce": "apple", "condition": "mouldy"}}}, "rule 'a': unknown condition 'mouldy'"),
        ({"classes": {"a": {"produce": "apple"}}}, "rule 'a': no 'condition' and no default_condition"),
        ({"classes": {"a": "apple_mouldy"}}, "rule 'a': 'apple_mouldy' is neither 'ignore' nor a class"),
        ({"classes": {"a": {"produce": "apple", "colour": "red"}}}, "rule 'a': unknown key(s) ['colour']"),
        ({"classes": {"a": {"condition": "fresh"}}}, "rule 'a': missing 'produce'"),
        ({"classes": {"a": 3}}, "rule 'a': expected 'ignore'"),
        ({"default_condition": "ripe", "classes": {"a": "ignore"}}, "default_condition 'ripe'"),
        ({"classes": {}}, "non-empty 'classes:'"),
        ({"Apple": "apple_fresh"}, "non-empty 'classes:'"),
        ({"classes": {"a": "ignore"}, "extra": 1}, "unknown key(s) ['extra']"),
    ],
)
def test_parse_mapping(taxonomy: Taxonomy, raw: Any, expected: dict[str, int | None] | str) -> None:
    if isinstance(expected, str):
        with pytest.raises(QCError) as info:
            parse_mapping(raw, taxonomy, source="m.yaml")
        assert expected in str(info.value)
        assert str(info.value).startswith("m.yaml: ")
    else:
        assert dict(parse_mapping(raw, taxonomy).rules) == expected


def test_example_mapping_file_is_valid(taxonomy: Taxonomy) -> None:
    mapping = load_mapping(REPO / "datasets" / "mappings" / "example.yaml", taxonomy)
    assert mapping.class_id("rottenapples") == taxonomy.class_id("apple", "rotten")
    assert mapping.class_id("apple") == taxonomy.class_id("apple", "fresh")  # via default_condition
    assert mapping.class_id("person") is None


def test_load_mapping_errors_name_the_file(tmp_path: Path, taxonomy: Taxonomy) -> None:
    with pytest.raises(QCError, match="mapping file not found"):
        load_mapping(tmp_path / "nope.yaml", taxonomy)
    bad = tmp_path / "bad.yaml"
    bad.write_text("classes: [unclosed\n")
    with pytest.raises(QCError, match=r"bad\.yaml: not valid YAML"):
        load_mapping(bad, taxonomy)


def test_unmapped_lists_every_missing_name_once(taxonomy: Taxonomy) -> None:
    mapping = parse_mapping({"classes": {"Apple": "apple_fresh", "person": "ignore"}}, taxonomy)
    assert mapping.unmapped(["Pear", "Apple", "kiwi", "Pear", "person"]) == ["Pear", "kiwi"]
    mapping.require_mapped(["Apple", "person"], "src")
    with pytest.raises(QCError, match=r"src: 2 source class\(es\) have no rule in mapping: 'Pear', 'kiwi'"):
        mapping.require_mapped(["Pear", "kiwi"], "src")
