"""Label mapping: which class of a foreign data set becomes which class of our taxonomy.

A mapping file is YAML::

    default_condition: fresh          # optional: used by rules that name a produce kind but no condition
    classes:
      Apple: {produce: apple, condition: fresh}
      rotten_apple: {produce: apple, condition: rotten}
      Banana: {produce: banana}       # condition = default_condition
      tomato_bad: tomato_rotten       # shorthand: one of our class names (Taxonomy.class_names)
      person: ignore                  # boxes of this class are dropped (counted in the report)

Source class names match exactly (case and spaces included). Every rule is checked against the taxonomy when
the file is loaded, and an error names the rule. A source class that occurs in the data but has no rule is an
error listing every such class, unless the importer is told to drop unmapped classes.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from training.yolo_dataset import DatasetError
from vision.taxonomy import Taxonomy

IGNORE = "ignore"
_TOP_KEYS = frozenset({"classes", "default_condition"})
_RULE_KEYS = frozenset({"produce", "condition"})


@dataclass(frozen=True)
class LabelMapping:
    """Source class name -> our class id, or None for classes whose boxes are dropped on purpose (``ignore``)."""

    rules: Mapping[str, int | None]
    taxonomy: Taxonomy
    source: str = "mapping"

    def unmapped(self, source_names: Iterable[str]) -> list[str]:
        """The names without a rule, sorted and without duplicates."""
        return sorted({n for n in source_names if n not in self.rules})

    def require_mapped(self, source_names: Iterable[str], what: str) -> None:
        """Raise DatasetError listing every name in ``source_names`` that has no rule (``what`` names the data)."""
        missing = self.unmapped(source_names)
        if missing:
            listed = ", ".join(repr(n) for n in missing)
            raise DatasetError(
                f"{what}: {len(missing)} source class(es) have no rule in {self.source}: {listed}; "
                f"add a rule for each (or '{IGNORE}'), or pass --drop-unmapped"
            )

    def class_id(self, source_name: str) -> int | None:
        """Our class id for a mapped source class; None if the rule is ``ignore``. KeyError if unmapped."""
        return self.rules[source_name]


def load_mapping(path: str | os.PathLike[str], taxonomy: Taxonomy) -> LabelMapping:
    """Read and validate a mapping YAML file against ``taxonomy``."""
    p = Path(path)
    if not p.is_file():
        raise DatasetError(f"mapping file not found: {p}")
    try:
        raw = yaml.safe_load(p.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{p}: not valid YAML ({exc})") from exc
    return parse_mapping(raw, taxonomy, source=str(p))


def parse_mapping(raw: Any, taxonomy: Taxonomy, source: str = "mapping") -> LabelMapping:
    """Validate a parsed mapping (see the module docstring for the format); errors name the offending rule."""
    if not isinstance(raw, dict) or not isinstance(raw.get("classes"), dict) or not raw["classes"]:
        raise DatasetError(f"{source}: expected a mapping with a non-empty 'classes:' table (source name -> rule)")
    extra = sorted(set(raw) - _TOP_KEYS)
    if extra:
        raise DatasetError(f"{source}: unknown key(s) {extra}; allowed: {sorted(_TOP_KEYS)}")
    default_condition = raw.get("default_condition")
    if default_condition is not None and str(default_condition) not in taxonomy.condition_names:
        raise DatasetError(
            f"{source}: default_condition {default_condition!r} is not a condition of the taxonomy "
            f"({', '.join(taxonomy.condition_names)})"
        )
    rules: dict[str, int | None] = {}
    for name, rule in raw["classes"].items():
        # YAML turns keys like `1` or `yes` into int/bool; the source names they stand for are strings.
        key = str(name)
        rules[key] = _parse_rule(key, rule, taxonomy, default_condition, source)
    return LabelMapping(rules=rules, taxonomy=taxonomy, source=source)


def _parse_rule(name: str, rule: Any, taxonomy: Taxonomy, default_condition: str | None, source: str) -> int | None:
    where = f"{source}: rule {name!r}"
    if isinstance(rule, str):
        if rule == IGNORE:
            return None
        if rule in taxonomy.class_names:
            return taxonomy.class_names.index(rule)
        raise DatasetError(
            f"{where}: {rule!r} is neither '{IGNORE}' nor a class of the taxonomy "
            f"({', '.join(taxonomy.class_names)}); or write {{produce: ..., condition: ...}}"
        )
    if not isinstance(rule, dict):
        raise DatasetError(
            f"{where}: expected '{IGNORE}', a class name or {{produce: ..., condition: ...}}, got {rule!r}"
        )
    extra = sorted(set(rule) - _RULE_KEYS)
    if extra:
        raise DatasetError(f"{where}: unknown key(s) {extra}; allowed: produce, condition")
    if "produce" not in rule:
        raise DatasetError(f"{where}: missing 'produce'")
    produce = str(rule["produce"])
    condition = rule.get("condition", default_condition)
    if condition is None:
        raise DatasetError(f"{where}: no 'condition' and no default_condition in the mapping")
    if produce not in taxonomy.produce:
        raise DatasetError(f"{where}: unknown produce {produce!r} (taxonomy: {', '.join(taxonomy.produce)})")
    if str(condition) not in taxonomy.condition_names:
        raise DatasetError(
            f"{where}: unknown condition {condition!r} (taxonomy: {', '.join(taxonomy.condition_names)})"
        )
    return taxonomy.class_id(produce, str(condition))
