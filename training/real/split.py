"""The real-photo splits: decided by each photo's content, never by where it lies or what it is called.

``val`` (a quarter) is held out from every model and looked at only to report. Of the rest, the training split, a
fifth is also the *development* subset (`is_dev_key`): a grader may hold it out of its training and pick its epoch
and settings on it, so that choices need not look at ``val``. Detectors have trained on it (it is part of ``train``),
so it only judges what a detector did not learn from it.

The development fifth is small (21 single-fruit photos on the shared set, one photo moving a figure by 0.048) and,
once used to choose, biased to what it chose. *Folds* (`Fold`) cut the whole training split into K parts by the same
draw, so fold 0 of 5 is exactly the development fifth: a grader trained with each fold held out in turn, evaluated
on that fold, gives an estimate over every training photo instead of one fifth of them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

VAL_SHARE = 0.25  # a quarter of every real collection is held out; no model of this project trains on it
SPLIT_SALT = b"conveyor-qc real-produce split v1"  # changing it would move photos between splits: never do
DEV_SHARE = 0.2  # of the training split
DEV_SALT = b"conveyor-qc real-produce dev v1"  # independent of SPLIT_SALT, so dev is a random fifth of train


def content_key(path: Path) -> str:
    """The photo's sha256 (hex): its identity for the split, the same under any name or folder."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def split_of_key(key: str, val_share: float = VAL_SHARE) -> str:
    """``"val"`` or ``"train"`` for a content key; a photo keeps its split however the collection grows."""
    if not 0.0 <= val_share < 1.0:
        raise ValueError(f"val_share must be within [0, 1), got {val_share}")
    u = int(hashlib.sha256(SPLIT_SALT + key.encode()).hexdigest()[:12], 16) / float(16**12)
    return "val" if u < val_share else "train"


def split_of(path: Path, val_share: float = VAL_SHARE) -> str:
    """The split of the photo at ``path`` (`split_of_key` of its content)."""
    return split_of_key(content_key(path), val_share)


def _dev_draw(key: str) -> float:
    """A uniform number in [0, 1) for a content key, independent of the split's own draw."""
    return int(hashlib.sha256(DEV_SALT + key.encode()).hexdigest()[:12], 16) / float(16**12)


def is_dev_key(key: str, dev_share: float = DEV_SHARE) -> bool:
    """Whether a training-split photo (by content key) is in the development subset; False for every ``val`` photo."""
    if not 0.0 <= dev_share <= 1.0:
        raise ValueError(f"dev_share must be within [0, 1], got {dev_share}")
    if split_of_key(key) != "train":
        return False
    return _dev_draw(key) < dev_share


def fold_of_key(key: str, folds: int) -> int | None:
    """Which of ``folds`` equal parts of the training split a photo (by content key) lies in; None for a ``val``
    photo. The same draw as `is_dev_key`: with 5 folds, fold 0 is the development fifth."""
    if folds < 2:
        raise ValueError(f"folds must be at least 2, got {folds}")
    if split_of_key(key) != "train":
        return None
    return min(folds - 1, int(_dev_draw(key) * folds))


@dataclass(frozen=True)
class Fold:
    """Part ``index`` of ``count`` folds of the training split (`fold_of_key`), written ``index/count``."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 2 or not 0 <= self.index < self.count:
            raise ValueError(f"a fold is I/K with K >= 2 and 0 <= I < K, got {self.index}/{self.count}")

    @classmethod
    def parse(cls, text: str) -> Fold:
        """``"1/5"`` as a `Fold`; ValueError naming the expected form otherwise."""
        parts = text.split("/")
        if len(parts) != 2 or not all(part.strip().isdigit() for part in parts):
            raise ValueError(f"a fold is I/K (e.g. 1/5: the second of five folds, counted from 0), got {text!r}")
        return cls(int(parts[0]), int(parts[1]))

    def holds(self, key: str) -> bool:
        """Whether the photo with this content key lies in this fold (never a ``val`` photo)."""
        return fold_of_key(key, self.count) == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"
