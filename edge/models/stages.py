"""What the registry wants served: its production, canary and shadow versions, read in one pass."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

from vision.model_card import ModelCard
from vision.registry import Registry

ROLES: tuple[str, ...] = ("production", "canary", "shadow")


@dataclass(frozen=True)
class Wanted:
    """The card the registry has in each rollout role (None: no version in that stage)."""

    production: ModelCard | None
    canary: ModelCard | None
    shadow: ModelCard | None

    def card(self, role: str) -> ModelCard | None:
        """The card wanted for ``role``."""
        return {"production": self.production, "canary": self.canary, "shadow": self.shadow}[role]


def fingerprint(card: ModelCard | None) -> tuple[str, str, str | None] | None:
    """What identifies a wanted model: version, ONNX digest and grader digest (a version folder rewritten by hand is
    a change)."""
    if card is None:
        return None
    return card.version, card.onnx_sha256, card.grader.sha256 if card.grader is not None else None


def wanted_of(cards: Iterable[ModelCard]) -> Wanted:
    """The newest card of each role's stage among ``cards`` (oldest first, as the registry lists them)."""
    newest: dict[str, ModelCard] = {}
    for card in cards:
        if card.stage in ROLES:
            newest[card.stage] = card  # a later (newer) card of the same stage wins
    return Wanted(newest.get("production"), newest.get("canary"), newest.get("shadow"))


def read_wanted(root: str | os.PathLike[str] | None) -> Wanted:
    """Read the registry at ``root`` (blocking: run it in a thread). Raises the registry's QCError subclasses."""
    registry = Registry.open(root)
    by_stage = getattr(registry, "by_stage", None)
    if by_stage is None:  # a registry without stage queries: filter the whole list
        return wanted_of(registry.list())
    return wanted_of([card for role in ROLES for card in by_stage(role)])
