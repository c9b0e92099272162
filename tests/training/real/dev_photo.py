"""Real-photo fixtures the real-data path's tests build on the fly."""

from __future__ import annotations

from pathlib import Path

from training.real.split import content_key, is_dev_key

FIXTURES = Path(__file__).resolve().parents[3] / "datasets" / "fixtures" / "real-produce"


def add_dev_photo(root: Path) -> Path:
    """Add to ``root`` a single-fruit photo of the development fifth of train (`training.real.split.is_dev_key`): a
    fixture apple with trailing bytes after its JPEG end, chosen so its content key falls in dev (the fixtures have
    none). Returns its path."""
    source = (FIXTURES / "fruit-photos" / "images" / "train_apple_2.jpg").read_bytes()
    target = root / "fresh-rotten" / "apple_fresh" / "dev_apple.jpg"
    target.parent.mkdir(parents=True, exist_ok=True)
    for n in range(1, 1000):
        target.write_bytes(source + b"\0" * n)  # decoders stop at the end marker; the hash sees every byte
        if is_dev_key(content_key(target)):
            return target
    raise AssertionError("no padding put the photo in the development subset")
