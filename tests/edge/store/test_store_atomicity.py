"""A failure anywhere inside commit_frame leaves nothing behind: not the frame, not an item, flag, crop or checkpoint.

The failure is a real one raised by the database: a trigger created for the test refuses one insert, so the frame row
and the rows before it were already written inside the transaction when it fails.
"""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine
from sqlalchemy.exc import DBAPIError
from store_builders import commit_args, make_item

from edge.store import FrameTally, Store


def _set_failing_trigger(store_url: str, table: str, when: str | None, *, on: bool) -> None:
    engine = create_engine(store_url)
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "sqlite":
                if on:
                    cond = f"WHEN {when} " if when else ""
                    conn.exec_driver_sql(
                        f"CREATE TRIGGER qc_fail BEFORE INSERT ON {table} {cond}"
                        "BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
                    )
                else:
                    conn.exec_driver_sql("DROP TRIGGER qc_fail")
            elif on:
                conn.exec_driver_sql(
                    "CREATE FUNCTION qc_fail() RETURNS trigger LANGUAGE plpgsql AS "
                    "$$ BEGIN RAISE EXCEPTION 'injected failure'; END $$"
                )
                cond = f"WHEN ({when}) " if when else ""
                conn.exec_driver_sql(
                    f"CREATE TRIGGER qc_fail BEFORE INSERT ON {table} FOR EACH ROW {cond}EXECUTE FUNCTION qc_fail()"
                )
            else:
                conn.exec_driver_sql(f"DROP TRIGGER qc_fail ON {table}")
                conn.exec_driver_sql("DROP FUNCTION qc_fail()")
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("table", "when"),
    [
        ("items", "NEW.track_id = 3"),  # the third item: two items and a flag + crop already written
        ("flags", None),  # after the first item
        ("crops", None),  # after item and flag
        ("tracker_checkpoints", None),  # the last statement of the transaction
    ],
)
def test_failure_inside_commit_leaves_nothing(store: Store, store_url: str, table: str, when: str | None) -> None:
    assert store.commit_frame(**commit_args(seq=9, checkpoint={"seq": 9}))
    items = [make_item(track_id=1, seq=10, flagged=True), make_item(track_id=2, seq=10), make_item(track_id=3, seq=10)]
    args = commit_args(seq=10, items=items, checkpoint={"seq": 10})

    _set_failing_trigger(store_url, table, when, on=True)
    with pytest.raises(DBAPIError, match="injected failure"):
        store.commit_frame(**args)

    assert store.frame_status("cam1", 10) is None
    assert store.items() == []
    assert store.flags() == []
    assert store.load_checkpoint("cam1") == {"seq": 9}
    assert store.frame_tallies() == [FrameTally(camera_id="cam1", processed=1, dropped={})]

    # The frame was never acknowledged, so the camera resends it, and this time it goes through whole.
    _set_failing_trigger(store_url, table, when, on=False)
    assert store.commit_frame(**args) is True
    assert [i.track_id for i in store.items()] == [1, 2, 3]
    (flag,) = store.flags()
    assert flag.has_crop and store.crop(flag.id) == items[0].best_crop_jpeg
    assert store.load_checkpoint("cam1") == {"seq": 10}
