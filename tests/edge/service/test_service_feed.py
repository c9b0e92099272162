"""The service's periodic waste-feed export (``feed.every_s``): the store's items reach the waste_feed table."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path

from service_harness import running, service_config
from store_tx import read

from edge.store.store import Store
from edge.store.waste_feed import read_feed
from edge.tracking.item import Item


def _item(track_id: int, produce: str, flagged: bool, at: float) -> Item:
    return Item(
        camera_id="cam1", track_id=track_id, first_seq=0, last_seq=1, first_seen_at=at, last_seen_at=at,
        counted_seq=1, produce=produce, condition="rotten" if flagged else "fresh",
        freshness=0.1 if flagged else 0.9, flagged=flagged, votes={produce: 2}, frames=2,
        best_box=(10.0, 10.0, 50.0, 50.0), best_seq=1,
    )


def test_periodic_export_fills_the_waste_feed_table(tmp_path: Path, served_registry: Path) -> None:
    now = time.time()
    config = service_config(tmp_path, served_registry, feed={"every_s": 0.2, "days": 2})
    store = Store.open(config.store_url)
    items = [_item(1, "apple", True, now), _item(2, "apple", False, now), _item(3, "banana", False, now)]
    assert store.commit_frame("cam1", 1, now, now, "v0001", 3, items, None)
    store.close()
    today = datetime.now(timezone.utc).date()

    with running(config):
        deadline = time.monotonic() + 20
        rows = []
        while time.monotonic() < deadline and not rows:
            time.sleep(0.2)
            with Store.open(config.store_url) as reader:
                rows = read(reader, read_feed, today, today)
    by_product = {r.product: r for r in rows}
    assert set(by_product) == {"apple", "banana"}
    assert (by_product["apple"].items_inspected, by_product["apple"].predicted_waste) == (2, 1)
    assert (by_product["banana"].items_inspected, by_product["banana"].predicted_waste) == (1, 0)
    assert by_product["apple"].pending_review == 1


def test_feed_settings_are_validated(tmp_path: Path, served_registry: Path) -> None:
    import pytest

    from edge.config import ConfigError

    with pytest.raises((ConfigError, ValueError), match="every_s"):
        service_config(tmp_path, served_registry, feed={"every_s": 0})
