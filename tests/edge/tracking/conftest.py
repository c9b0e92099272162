"""Clips rendered by `qc synth clip` (training.synth.clip), once per session, for the oracle-detection tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from vision.taxonomy import Taxonomy

# Seeds the tracker was never tuned on (tuning used other clips); one per (speed, density) cell.
CLIP_SEED = 7300


@pytest.fixture(scope="session")
def synth_clip(tmp_path_factory: pytest.TempPathFactory, taxonomy: Taxonomy) -> Callable[..., Path]:
    """``make(speed, density, seconds=6.0, seed=None) -> folder`` with clip.mp4 and truth.json (cached per session)."""
    from training.synth.clip import generate_clip

    made: dict[tuple, Path] = {}

    def make(speed: float, density: float, seconds: float = 6.0, seed: int | None = None) -> Path:
        seed = CLIP_SEED + int(speed * 10) * 10 + int(density) if seed is None else seed
        key = (speed, density, seconds, seed)
        if key not in made:
            out = tmp_path_factory.mktemp(f"clip_{speed}_{density}_{seed}")
            generate_clip(out, seconds, 15.0, seed, taxonomy, speed=speed, density=density)
            made[key] = out
        return made[key]

    return make
