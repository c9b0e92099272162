"""The shipped model's registry version id, and the ids a registry seeded with it hands out next.

Tests that seed an empty registry with `vision/default_model` use these instead of literal ids, so shipping a new
model (with a new version id) does not rewrite them."""

from __future__ import annotations

from vision.model_card import ModelCard
from vision.registry import CARD_NAME, DEFAULT_MODEL_DIR, format_version

SHIPPED_VERSION = ModelCard.load(DEFAULT_MODEL_DIR / CARD_NAME).version
# The shipped model's earlier versions (``history/<version>/``), oldest first: seeded as archived before it.
SHIPPED_HISTORY = sorted(p.parent.name for p in (DEFAULT_MODEL_DIR / "history").glob(f"*/{CARD_NAME}"))


def after_shipped(n: int) -> str:
    """The id of the ``n``-th version registered after the shipped one in a registry seeded with it."""
    return format_version(int(SHIPPED_VERSION[1:]) + n)
