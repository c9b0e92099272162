"""Repository functions for review decisions (with their audit rows), undo, and the audit trail.

A decision and its audit row are written in one transaction under a row lock on the flag (PostgreSQL
``SELECT ... FOR UPDATE``; SQLite runs one writer at a time), so concurrent reviewers of one flag are serialised and
every audit row's ``prev_*`` columns are the state it really replaced: that is what makes undo exact.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, exists, select
from sqlalchemy.orm import aliased

from edge.store.errors import NotFoundError, StoreValueError
from edge.store.frame_images import frame_size
from edge.store.review_queue import BOX_COLUMNS, box_of, check_id
from edge.store.reviews import Box, Review, ReviewConflictError
from edge.store.schema import flag_labels, flags, items, reviews
from edge.store.timestamps import utc_now

MAX_BULK = 500
_NAME_LEN = 64
_DECISIONS = {"confirm_waste": "confirmed", "not_waste": "rejected"}


# ---- decisions ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _FlagState:
    """A flag's status, corrected labels (None: the model's) and the decision in force, as locked for a review."""

    flag_id: int
    item_id: int
    camera_id: str
    best_seq: int | None
    status: str
    produce: str | None
    condition: str | None
    box: Box | None
    reviewed_by: str | None
    reviewed_at: datetime | None


def _lock_flag(conn: Connection, flag_id: int) -> _FlagState:
    row = conn.execute(
        select(flags.c.id, flags.c.item_id, flags.c.status).where(flags.c.id == flag_id).with_for_update()
    ).one_or_none()
    if row is None:
        raise NotFoundError(f"no flag with id {flag_id}")
    item = conn.execute(select(items.c.camera_id, items.c.best_seq).where(items.c.id == row.item_id)).one()
    labels = conn.execute(select(flag_labels).where(flag_labels.c.flag_id == flag_id)).one_or_none()
    m = labels._mapping if labels is not None else None
    return _FlagState(
        flag_id=row.id,
        item_id=row.item_id,
        camera_id=item.camera_id,
        best_seq=item.best_seq,
        status=row.status,
        produce=None if m is None else m["produce"],
        condition=None if m is None else m["condition"],
        box=None if m is None else box_of(m),
        reviewed_by=None if m is None else m["reviewed_by"],
        reviewed_at=None if m is None else m["reviewed_at"],
    )


def check_name(value: Any, what: str) -> str:
    """``value`` if it is a non-empty string of at most 64 characters (reviewer, produce, condition)."""
    if not isinstance(value, str) or not value.strip() or len(value) > _NAME_LEN:
        raise StoreValueError(f"{what} must be a non-empty string of at most {_NAME_LEN} characters, got {value!r}")
    return value


def check_arguments(action: str, produce: str | None, condition: str | None, box: Sequence[float] | None) -> Box | None:
    """Refuse arguments that do not belong to ``action``; returns the box as a float 4-tuple (or None)."""
    if action in _DECISIONS:
        if produce is not None or condition is not None or box is not None:
            raise StoreValueError(f"review action {action!r} takes no produce, condition or box")
        return None
    if action == "relabel":
        if produce is None and condition is None:
            raise StoreValueError("review action 'relabel' needs a produce, a condition or both")
        if box is not None:
            raise StoreValueError("review action 'relabel' takes no box (use 'fix_box')")
        if produce is not None:
            check_name(produce, "relabel produce")
        if condition is not None:
            check_name(condition, "relabel condition")
        return None
    if action == "fix_box":
        if produce is not None or condition is not None:
            raise StoreValueError("review action 'fix_box' takes no produce or condition (use 'relabel')")
        if box is None:
            raise StoreValueError("review action 'fix_box' needs a box (x0, y0, x1, y1)")
        try:
            values = tuple(float(v) for v in box)
        except (TypeError, ValueError) as exc:
            raise StoreValueError(f"box must be 4 numbers (x0, y0, x1, y1), got {box!r}") from exc
        if len(values) != 4 or not all(math.isfinite(v) for v in values):
            raise StoreValueError(f"box must be 4 finite numbers (x0, y0, x1, y1), got {box!r}")
        x0, y0, x1, y1 = values
        if not (0 <= x0 < x1 and 0 <= y0 < y1):
            raise StoreValueError(f"box must satisfy 0 <= x0 < x1 and 0 <= y0 < y1, got {values}")
        return (x0, y0, x1, y1)
    if action == "undo":
        raise StoreValueError("'undo' is not applied to a flag: call undo_last(reviewer)")
    raise StoreValueError(
        f"review action must be one of confirm_waste, not_waste, relabel, fix_box, got {action!r}"
    )


def apply_review(
    conn: Connection,
    flag_id: int,
    action: str,
    reviewer: str,
    *,
    produce: str | None = None,
    condition: str | None = None,
    box: Sequence[float] | None = None,
    now: datetime | None = None,
) -> Review:
    """Apply one decision to a flag and write its audit row (the rules of each action: `edge.store.reviews`).

    StoreValueError, before anything is written, for a bad flag id or reviewer and for arguments that do not belong
    to ``action`` (`check_arguments`); a box outside the stored frame is refused too.
    """
    check_id(flag_id, "flag id")
    check_name(reviewer, "reviewer")
    checked_box = check_arguments(action, produce, condition, box)
    return _apply(conn, flag_id, action, reviewer, produce, condition, checked_box, now or utc_now(), None)


def bulk_confirm(
    conn: Connection, flag_ids: Sequence[int], reviewer: str, *, now: datetime | None = None
) -> list[Review]:
    """confirm_waste on 1 to `MAX_BULK` distinct flags (a repeated id counts once), all or nothing with the
    transaction; the audit rows share a new batch id, so one `undo_last` reverts them all."""
    check_name(reviewer, "reviewer")
    if isinstance(flag_ids, (str, bytes)):
        raise StoreValueError("flag_ids must be a sequence of integer ids")
    ids = list(dict.fromkeys(check_id(f, "flag id") for f in flag_ids))
    if not 1 <= len(ids) <= MAX_BULK:
        raise StoreValueError(f"bulk_confirm takes 1 to {MAX_BULK} flag ids, got {len(ids)}")
    batch, at = str(uuid.uuid4()), now or utc_now()
    # Flag id order: two bulk writers lock their flags in the same order and never deadlock.
    return [_apply(conn, f, "confirm_waste", reviewer, None, None, None, at, batch) for f in sorted(ids)]


def _apply(
    conn: Connection,
    flag_id: int,
    action: str,
    reviewer: str,
    produce: str | None,
    condition: str | None,
    box: Box | None,
    now: datetime,
    batch_id: str | None,
) -> Review:
    """Apply one checked decision to a flag and write its audit row."""
    state = _lock_flag(conn, flag_id)
    if box is not None and state.best_seq is not None:
        size = frame_size(conn, state.camera_id, state.best_seq)
        if size is not None and (box[2] > size[0] or box[3] > size[1]):
            raise StoreValueError(f"flag {flag_id}: box {box} lies outside its {size[0]}x{size[1]} frame")
    new_status = _DECISIONS.get(action, state.status)
    new_produce = produce if produce is not None else state.produce
    new_condition = condition if condition is not None else state.condition
    new_box = box if box is not None else state.box
    review_id = conn.execute(
        reviews.insert()
        .values(
            flag_id=flag_id,
            item_id=state.item_id,
            action=action,
            reviewer=reviewer,
            at=now,
            status=new_status,
            produce=produce,
            condition=condition,
            **_box_values(box),
            **_prev_values(state),
            undoes=None,
            batch_id=batch_id,
        )
        .returning(reviews.c.id)
    ).scalar_one()
    _write_state(conn, flag_id, new_status, new_produce, new_condition, new_box, reviewer, now)
    return get_review(conn, review_id)


def _box_values(box: Box | None, prefix: str = "") -> dict[str, float | None]:
    return {f"{prefix}{c}": (None if box is None else float(box[i])) for i, c in enumerate(BOX_COLUMNS)}


def _prev_values(state: _FlagState) -> dict[str, Any]:
    return {
        "prev_status": state.status,
        "prev_produce": state.produce,
        "prev_condition": state.condition,
        **_box_values(state.box, "prev_"),
        "prev_reviewed_by": state.reviewed_by,
        "prev_reviewed_at": state.reviewed_at,
    }


def _write_state(
    conn: Connection,
    flag_id: int,
    status: str,
    produce: str | None,
    condition: str | None,
    box: Box | None,
    reviewed_by: str | None,
    reviewed_at: datetime | None,
) -> None:
    conn.execute(flags.update().where(flags.c.id == flag_id).values(status=status))
    values = {
        "produce": produce,
        "condition": condition,
        **_box_values(box),
        "reviewed_by": reviewed_by,
        "reviewed_at": reviewed_at,
    }
    # The flag row is locked, so no other writer can insert its labels row between this check and the write.
    if conn.execute(select(flag_labels.c.flag_id).where(flag_labels.c.flag_id == flag_id)).first() is None:
        conn.execute(flag_labels.insert().values(flag_id=flag_id, **values))
    else:
        conn.execute(flag_labels.update().where(flag_labels.c.flag_id == flag_id).values(**values))


# ---- undo ---------------------------------------------------------------------------------------------------------


def _not_undone() -> ColumnElement[bool]:
    undo = aliased(reviews)
    return ~exists().where(undo.c.undoes == reviews.c.id)


def undo_last(conn: Connection, reviewer: str, now: datetime | None = None) -> list[Review]:
    """Revert the reviewer's latest action still in force (a bulk_confirm batch as a whole) and return the "undo"
    rows written; [] when none is left. ReviewConflictError when someone else has reviewed that flag since."""
    check_name(reviewer, "reviewer")
    now = now or utc_now()
    latest = conn.execute(
        select(reviews.c.id, reviews.c.batch_id)
        .where(reviews.c.reviewer == reviewer, reviews.c.action != "undo", _not_undone())
        .order_by(reviews.c.id.desc())
        .limit(1)
    ).one_or_none()
    if latest is None:
        return []
    group = select(reviews).where(reviews.c.reviewer == reviewer, reviews.c.action != "undo", _not_undone())
    group = group.where(reviews.c.batch_id == latest.batch_id) if latest.batch_id else group.where(
        reviews.c.id == latest.id
    )
    targets = [r._mapping for r in conn.execute(group.order_by(reviews.c.id.desc()))]
    # Lock the flags in id order (deadlock-free against other multi-flag writers), then re-read under the locks:
    # a concurrent undo of the same review may have committed meanwhile.
    for flag_id in sorted({t["flag_id"] for t in targets}):
        _lock_flag(conn, flag_id)
    ids = [t["id"] for t in targets]
    targets = [
        r._mapping
        for r in conn.execute(
            select(reviews).where(reviews.c.id.in_(ids), _not_undone()).order_by(reviews.c.id.desc())
        )
    ]
    if not targets:
        return []
    for t in targets:
        later = conn.execute(
            select(reviews.c.id, reviews.c.reviewer)
            .where(
                reviews.c.flag_id == t["flag_id"],
                reviews.c.id > t["id"],
                reviews.c.action != "undo",
                _not_undone(),
            )
            .order_by(reviews.c.id)
            .limit(1)
        ).one_or_none()
        if later is not None:
            raise ReviewConflictError(
                f"cannot undo review {t['id']} of flag {t['flag_id']}: {later.reviewer!r} reviewed it since "
                f"(review {later.id})"
            )
    written: list[Review] = []
    for t in targets:
        state = _lock_flag(conn, t["flag_id"])
        restored_box = box_of(t, "prev_")
        undo_id = conn.execute(
            reviews.insert()
            .values(
                flag_id=t["flag_id"],
                item_id=t["item_id"],
                action="undo",
                reviewer=reviewer,
                at=now,
                status=t["prev_status"],
                produce=t["prev_produce"],
                condition=t["prev_condition"],
                **_box_values(restored_box),
                **_prev_values(state),
                undoes=t["id"],
                batch_id=t["batch_id"],
            )
            .returning(reviews.c.id)
        ).scalar_one()
        _write_state(
            conn,
            t["flag_id"],
            t["prev_status"],
            t["prev_produce"],
            t["prev_condition"],
            restored_box,
            t["prev_reviewed_by"],
            t["prev_reviewed_at"],
        )
        written.append(get_review(conn, undo_id))
    return written


# ---- audit trail --------------------------------------------------------------------------------------------------


def _review_select() -> Select[Any]:
    undo = aliased(reviews)
    return select(reviews, undo.c.id.label("undone_by")).outerjoin(undo, undo.c.undoes == reviews.c.id)


def _review(row: Any) -> Review:
    m = row._mapping
    return Review(
        id=m["id"],
        flag_id=m["flag_id"],
        item_id=m["item_id"],
        action=m["action"],
        reviewer=m["reviewer"],
        at=m["at"],
        status=m["status"],
        produce=m["produce"],
        condition=m["condition"],
        box=box_of(m),
        undoes=m["undoes"],
        undone_by=m["undone_by"],
        batch_id=m["batch_id"],
    )


def get_review(conn: Connection, review_id: int) -> Review:
    """One audit row by id; NotFoundError when there is none."""
    row = conn.execute(_review_select().where(reviews.c.id == review_id)).one_or_none()
    if row is None:
        raise NotFoundError(f"no review with id {review_id}")
    return _review(row)


def list_reviews(
    conn: Connection, *, flag_id: int | None = None, reviewer: str | None = None, limit: int | None = None
) -> list[Review]:
    """The audit trail, oldest first, filtered by flag and reviewer."""
    stmt = _review_select()
    if flag_id is not None:
        stmt = stmt.where(reviews.c.flag_id == flag_id)
    if reviewer is not None:
        stmt = stmt.where(reviews.c.reviewer == reviewer)
    stmt = stmt.order_by(reviews.c.id)
    if limit is not None:
        stmt = stmt.limit(limit)
    return [_review(r) for r in conn.execute(stmt)]
