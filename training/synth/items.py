"""Sampling the items on a line: which produce, which condition (spoiled ones are a minority), how big."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from training.synth.produce import SIZES_M, Sprite, render_item, rotate_sprite
from vision.taxonomy import Taxonomy

SPOILED_SHARE_DEFAULT = 0.15  # about 10-20 % of items on a real line are not fresh


@dataclass(frozen=True)
class ItemSpec:
    """One physical item: what it is and how it looks (rotation, severity of its condition)."""

    produce: str
    condition: str
    severity: float
    size_px: float
    angle_deg: float

    def class_id(self, taxonomy: Taxonomy) -> int:
        """Its detector class id."""
        return taxonomy.class_id(self.produce, self.condition)

    def render(self, rng: np.random.Generator) -> Sprite:
        """Draw it, rotated."""
        return rotate_sprite(render_item(self.produce, self.condition, self.severity, self.size_px, rng), self.angle_deg)


def _weights(mix: Mapping[str, float], names: Sequence[str], what: str) -> np.ndarray:
    """``mix``'s relative weights as probabilities over ``names`` (unnamed ones: 0); ValueError naming the problem."""
    unknown = set(mix) - set(names)
    if unknown:
        raise ValueError(f"{what} mix names {sorted(unknown)}, which are not among {list(names)}")
    w = np.array([float(mix.get(n, 0.0)) for n in names])
    if (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"{what} mix weights must be >= 0 with a positive sum, got {dict(mix)}")
    return w / w.sum()


def sample_item(
    taxonomy: Taxonomy,
    px_per_m: float,
    spoiled_share: float,
    rng: np.random.Generator,
    spoiled_mix: Mapping[str, float] | None = None,
    produce_mix: Mapping[str, float] | None = None,
) -> ItemSpec:
    """A random item: over the produce kinds the sprites know, evenly or by the relative weights ``produce_mix``
    (kind -> weight), spoiled with probability ``spoiled_share``, spread over the non-fresh conditions evenly or by
    the relative weights ``spoiled_mix`` (condition -> weight)."""
    kinds = [p for p in taxonomy.produce if p in SIZES_M]
    if not kinds:
        raise ValueError("the taxonomy has no produce kind the synthetic renderer can draw")
    # Without a mix: the draw every earlier data set was rendered with, so their seeds still give the same bytes.
    if produce_mix:
        produce = str(rng.choice(kinds, p=_weights(produce_mix, kinds, "produce")))
    else:
        produce = str(rng.choice(kinds))
    conditions = taxonomy.condition_names
    fresh = conditions[0]
    spoiled = conditions[1:]
    weights = _weights(spoiled_mix, spoiled, "spoiled") if spoiled_mix else None
    condition = str(rng.choice(spoiled, p=weights)) if spoiled and rng.random() < spoiled_share else fresh
    mean, spread = SIZES_M[produce]
    size_px = max(8.0, rng.normal(mean, spread) * px_per_m)
    return ItemSpec(
        produce=produce,
        condition=condition,
        severity=float(rng.random()),
        size_px=float(size_px),
        angle_deg=float(rng.uniform(0, 360)),
    )
