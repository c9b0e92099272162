"""Sampling the items on a line: which produce, which condition (spoiled ones are a minority), how big."""

from __future__ import annotations

from collections.abc import Mapping
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


def sample_item(
    taxonomy: Taxonomy,
    px_per_m: float,
    spoiled_share: float,
    rng: np.random.Generator,
    spoiled_mix: Mapping[str, float] | None = None,
) -> ItemSpec:
    """A random item: uniform over produce kinds the sprites know, spoiled with probability ``spoiled_share``,
    spread over the non-fresh conditions evenly or by the relative weights ``spoiled_mix`` (condition -> weight)."""
    kinds = [p for p in taxonomy.produce if p in SIZES_M]
    if not kinds:
        raise ValueError("the taxonomy has no produce kind the synthetic renderer can draw")
    produce = str(rng.choice(kinds))
    conditions = taxonomy.condition_names
    fresh = conditions[0]
    spoiled = conditions[1:]
    weights = None
    if spoiled_mix:
        unknown = set(spoiled_mix) - set(spoiled)
        if unknown:
            raise ValueError(f"spoiled mix names conditions that are not spoiled ones: {sorted(unknown)}")
        w = np.array([float(spoiled_mix.get(c, 0.0)) for c in spoiled])
        if (w < 0).any() or w.sum() <= 0:
            raise ValueError(f"spoiled mix weights must be >= 0 with a positive sum, got {dict(spoiled_mix)}")
        weights = w / w.sum()
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
