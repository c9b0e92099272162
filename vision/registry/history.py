"""Stage history decisions, as pure functions of cards: the entries a stage change writes, and rollback's target."""

from __future__ import annotations

from datetime import datetime, timezone

from vision.model_card import ModelCard, Stage, StageChange


def now_utc() -> str:
    """The current time as the registry writes it, ISO 8601 UTC to the second."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def with_stage(
    card: ModelCard, stage: Stage, reason: str, *, replaced: str | None = None, rollback: bool = False
) -> ModelCard:
    """``card`` moved to ``stage``, its history extended by one entry saying why."""
    entry = StageChange(stage=stage, at=now_utc(), reason=reason, replaced=replaced, rollback=rollback)
    return card.model_copy(update={"stage": stage, "history": [*card.history, entry]})


def replaced_reason(new_production: str, reason: str) -> str:
    """The reason written on a production version archived because another one took its place."""
    return f"replaced by {new_production} in production" + (f": {reason}" if reason else "")


def previous_production(current: ModelCard) -> str | None:
    """The version that was production just before ``current``'s time in production began; None if unknown.

    A rollback does not count as "just before": after v1 ▸ v2 ▸ v3, rolling back from v3 restores v2, and rolling
    back again restores v1 (not v3). So the walk skips ``current``'s rollback entries and reads the version its
    last ordinary promotion replaced. Cards written before the registry kept a history have no answer.
    """
    for entry in reversed(current.history):
        if entry.stage == "production" and not entry.rollback:
            return entry.replaced
    return None
