"""The real-photo splits: decided by each photo's content, never by where it lies or what it is called.

``val`` (a quarter) is held out from every model and looked at only to report. Of the rest, the training split, a
fifth is also the *development* subset (`is_dev_key`): a grader may hold it out of its training and pick its epoch
and settings on it, so that choices need not look at ``val``. Detectors have trained on it (it is part of ``train``),
so it only judges what a detector did not learn from it.
"""

from __future__ import annotations

import hashlib
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


def is_dev_key(key: str, dev_share: float = DEV_SHARE) -> bool:
    """Whether a training-split photo (by content key) is in the development subset; False for every ``val`` photo."""
    if not 0.0 <= dev_share <= 1.0:
        raise ValueError(f"dev_share must be within [0, 1], got {dev_share}")
    if split_of_key(key) != "train":
        return False
    u = int(hashlib.sha256(DEV_SALT + key.encode()).hexdigest()[:12], 16) / float(16**12)
    return u < dev_share
