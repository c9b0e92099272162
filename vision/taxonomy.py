"""The produce taxonomy: produce kinds, conditions with freshness values, and detector classes.

Detector classes are produce x condition; class id = produce_index * len(conditions) + condition_index.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from vision.errors import TaxonomyError

# The one default taxonomy, inside the package (package data): an installed node (`pip install .`, the GPU image)
# has no checkout beside site-packages, and `qc serve`, `qc demo` and `qc inspect` load it.
DEFAULT_TAXONOMY_PATH = Path(__file__).resolve().parent / "taxonomy.yaml"
# An item is flagged for ops when its freshness is below this, unless a setting says otherwise (the service's
# ``counting.flag_below``, ``--flag-below``). Fresh is 1.0 and the mildest defect (bruised) 0.6, so 0.8 flags
# bruised items too (at 0.5 they never would be): halfway-ish, leaning to recall. The one definition that the edge
# (counting, `qc inspect`) and training (evaluation, the retraining gate) both use.
DEFAULT_FLAG_BELOW = 0.8


@dataclass(frozen=True)
class Condition:
    """A produce condition and its freshness value in [0, 1] (fresh 1.0 ... rotten 0.0)."""

    name: str
    freshness: float


@dataclass(frozen=True)
class Taxonomy:
    """Produce kinds x conditions; maps between class ids, names and freshness."""

    produce: tuple[str, ...]
    conditions: tuple[Condition, ...]

    def __post_init__(self) -> None:
        if not self.produce:
            raise TaxonomyError("taxonomy: 'produce' must list at least one produce kind")
        if not self.conditions:
            raise TaxonomyError("taxonomy: 'conditions' must list at least one condition")
        for names, what in ((self.produce, "produce"), (self.condition_names, "conditions")):
            if len(set(names)) != len(names):
                raise TaxonomyError(f"taxonomy: duplicate names in '{what}': {list(names)}")
        for c in self.conditions:
            if not 0.0 <= c.freshness <= 1.0:
                raise TaxonomyError(f"taxonomy: condition '{c.name}' has freshness {c.freshness}, outside [0, 1]")

    @classmethod
    def from_dict(cls, raw: Any, source: str = "taxonomy") -> Taxonomy:
        """Build from the parsed YAML mapping (``produce`` list, ``conditions`` list of name/freshness)."""
        if not isinstance(raw, dict):
            raise TaxonomyError(f"{source}: expected a mapping with 'produce' and 'conditions'")
        try:
            produce = tuple(str(p) for p in raw["produce"])
            conditions = tuple(Condition(str(c["name"]), float(c["freshness"])) for c in raw["conditions"])
        except (KeyError, TypeError, ValueError) as exc:
            raise TaxonomyError(f"{source}: malformed taxonomy ({exc!r})") from exc
        return cls(produce=produce, conditions=conditions)

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> Taxonomy:
        """Load a taxonomy YAML file; default ``$QC_TAXONOMY`` or the package's ``vision/taxonomy.yaml``."""
        p = Path(path or os.environ.get("QC_TAXONOMY") or DEFAULT_TAXONOMY_PATH)
        if not p.is_file():
            raise TaxonomyError(f"taxonomy file not found: {p}")
        try:
            raw = yaml.safe_load(p.read_text())
        except yaml.YAMLError as exc:
            raise TaxonomyError(f"{p}: not valid YAML ({exc})") from exc
        return cls.from_dict(raw, source=str(p))

    def to_dict(self) -> dict[str, Any]:
        """The YAML/JSON form, as stored in model cards."""
        return {
            "produce": list(self.produce),
            "conditions": [{"name": c.name, "freshness": c.freshness} for c in self.conditions],
        }

    @property
    def condition_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.conditions)

    @property
    def class_names(self) -> tuple[str, ...]:
        """Detector class names, ``<produce>_<condition>``, in class-id order."""
        return tuple(f"{p}_{c.name}" for p in self.produce for c in self.conditions)

    @property
    def num_classes(self) -> int:
        return len(self.produce) * len(self.conditions)

    def class_id(self, produce: str, condition: str) -> int:
        """Class id of a produce kind in a condition; raises TaxonomyError for unknown names."""
        try:
            return self.produce.index(produce) * len(self.conditions) + self.condition_names.index(condition)
        except ValueError:
            raise TaxonomyError(f"unknown produce/condition: {produce!r}/{condition!r}") from None

    def split_class(self, class_id: int) -> tuple[str, str]:
        """(produce, condition) of a class id."""
        if not 0 <= class_id < self.num_classes:
            raise TaxonomyError(f"class id {class_id} outside 0..{self.num_classes - 1}")
        p, c = divmod(int(class_id), len(self.conditions))
        return self.produce[p], self.conditions[c].name

    def produce_index(self, class_ids: np.ndarray) -> np.ndarray:
        """Produce index of each class id."""
        return np.asarray(class_ids) // len(self.conditions)

    def condition_index(self, class_ids: np.ndarray) -> np.ndarray:
        """Condition index of each class id."""
        return np.asarray(class_ids) % len(self.conditions)

    def freshness(self, class_scores: np.ndarray, class_ids: np.ndarray) -> np.ndarray:
        """Freshness of each detection: E[condition value] under its produce kind's class scores.

        ``class_scores`` is (N, num_classes) of per-class scores (sigmoid, not summing to 1);
        ``class_ids`` picks each row's produce kind. Scores are renormalised within the kind.
        """
        scores = np.asarray(class_scores, dtype=np.float32)
        n = scores.shape[0]
        if n == 0:
            return np.zeros(0, dtype=np.float32)
        k = len(self.conditions)
        per_kind = scores.reshape(n, len(self.produce), k)
        rows = per_kind[np.arange(n), self.produce_index(class_ids)]  # (N, k)
        values = np.array([c.freshness for c in self.conditions], dtype=np.float32)
        total = rows.sum(axis=1)
        safe = np.where(total > 0, total, 1.0)
        expected = (rows @ values) / safe
        # No score mass at all: fall back to the argmax condition's value rather than dividing by zero.
        fallback = values[self.condition_index(class_ids)]
        return np.clip(np.where(total > 0, expected, fallback), 0.0, 1.0).astype(np.float32)
