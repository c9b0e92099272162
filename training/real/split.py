"""The real-photo validation split: decided by each photo's content, never by where it lies or what it is called."""

from __future__ import annotations

import hashlib
from pathlib import Path

VAL_SHARE = 0.25  # a quarter of every real collection is held out; no model of this project trains on it
SPLIT_SALT = b"conveyor-qc real-produce split v1"  # changing it would move photos between splits: never do


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
