"""Exponential backoff with jitter, for reconnecting to the service, reopening a camera and resending on `retry`."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Delays that double from ``initial`` up to ``maximum``, each drawn with "equal jitter" in [d/2, d].

    Jitter keeps a fleet of daemons that lost the same service from reconnecting in lock-step; the lower
    bound of d/2 keeps a single daemon from hammering the service with near-zero delays.
    """

    initial: float = 0.5
    maximum: float = 30.0
    factor: float = 2.0
    rng: random.Random = field(default_factory=random.Random)
    attempts: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.initial <= self.maximum:
            raise ValueError(f"backoff needs 0 < initial <= maximum, got initial={self.initial} maximum={self.maximum}")
        if self.factor < 1:
            raise ValueError(f"backoff factor must be >= 1, got {self.factor}")

    def ceiling(self) -> float:
        """The un-jittered delay of the next attempt."""
        # Cap the exponent so a daemon that has been failing for days does not overflow a float.
        return min(self.maximum, self.initial * self.factor ** min(self.attempts, 64))

    def next_delay(self) -> float:
        """The delay before the next attempt; each call counts as one more failed attempt."""
        ceiling = self.ceiling()
        self.attempts += 1
        return ceiling / 2 + self.rng.random() * ceiling / 2

    def reset(self) -> None:
        """Back to ``initial`` after a success."""
        self.attempts = 0
