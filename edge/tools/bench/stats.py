"""Small pure functions over measurements: percentiles and per-round ratios."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0..100) by linear interpolation between closest ranks; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def paired_ratios(faster_of: Sequence[Sequence[float]], ours: Sequence[float]) -> list[float]:
    """Per round, the speed of ours relative to the fastest of ``faster_of`` (each a list of seconds per round):
    ``min(seconds of the others in round k) / ours[k]``. Paths of one round run back to back, so a slow spell of a
    shared machine hits both sides of a round's ratio; rounds missing on either side are skipped."""
    out = []
    for k, mine in enumerate(ours):
        others = [seconds[k] for seconds in faster_of if k < len(seconds)]
        if others and mine > 0:
            out.append(min(others) / mine)
    return out
