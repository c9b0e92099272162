"""Reviews of flagged items: the values the review API returns, and the API itself (methods of `edge.store.Store`).

The review page, the waste feed and `qc dataset from-reviews` call these ``Store`` methods (each one transaction,
blocking; async code calls them through a thread pool). Times are aware UTC datetimes; "date" is the UTC day of the
item's ``counted_at`` (when it crossed the line).

Queue and decisions::

    store.review_queue(camera=None, produce=None, status="pending", date=None, offset=0, limit=50) -> list[QueueEntry]
        status: "pending" (no decision yet), "reviewed" (confirmed or rejected), "all"; produce filters on the
        *current* produce (after relabels); date: a `datetime.date` (UTC day of counted_at) or None.
        Order: oldest first (item counted_at, then flag id) for every status, so pages are stable.
        limit within [1, 500], offset >= 0, else StoreValueError.
    store.review_count(camera=None, produce=None, status="pending", date=None) -> int   # for the pager
    store.review_entry(flag_id) -> QueueEntry            # one flag; NotFoundError when unknown
    store.apply_review(flag_id, action, reviewer, produce=None, condition=None, box=None) -> Review
        action: "confirm_waste" (status -> confirmed), "not_waste" (status -> rejected, a false flag),
        "relabel" (produce and/or condition; status unchanged), "fix_box" (box = (x0, y0, x1, y1) in pixels of the
        item's best frame; status unchanged). The flag's new state and the audit row commit in one transaction.
        Produce/condition names are not checked against a taxonomy here (the store does not know one): the caller
        validates them. ``reviewer`` is a user name (not checked against the users table: users may come from config).
        StoreValueError for an unknown action, a missing/extra argument, a bad box (not finite, empty, or outside
        the stored frame); NotFoundError for an unknown flag.
    store.bulk_confirm(flag_ids, reviewer) -> list[Review]
        confirm_waste on every flag, all or nothing, one audit row per flag sharing a batch id: one undo reverts it.
    store.undo_last(reviewer) -> list[Review]
        Reverts the reviewer's latest action that is not undone yet (a single review, or a whole bulk_confirm) and
        returns the "undo" audit rows written (one per flag; [] when there is nothing left to undo). Repeated calls
        walk further back. ReviewConflictError (a StoreValueError) when someone else has reviewed that flag since:
        undo never overwrites another person's decision.
    store.reviews(flag_id=None, reviewer=None, limit=None) -> list[Review]   # audit trail, oldest first

Frames::

    store.save_frame_image(camera_id, seq, jpeg, width, height, detections, captured_at=None) -> bool
        The whole frame (JPEG bytes) and every detection in it, for the "whole frame" view and for retraining.
        Idempotent on (camera_id, seq): False, writing nothing, when that frame image is already stored.
        ``detections``: a sequence of `FrameDetection` or a `vision.detections.Detections` plus a taxonomy (see
        `frame_detections_from`). Call it in the service when a flagged item is counted, for its best_seq frame.
    store.frame_image(camera_id, seq) -> FrameImage       # jpeg + detections; NotFoundError when not stored
    store.flag_frame(flag_id) -> FrameImage               # the frame of a flag's best_seq; NotFoundError when none
    store.review_samples() -> Iterator[ReviewSample]      # stored best frames of decided flags (retraining)

Dashboard and feed::

    store.dashboard(since, until) -> Dashboard
        since/until: `datetime.date`, both inclusive. Per produce per day: inspected, flagged, confirmed, rejected,
        pending; and per day the review precision = confirmed / (confirmed + rejected) (None when nothing reviewed).
    store.waste_rows(since, until, *, hourly=False, site="default") -> list[WasteRow]
        The waste-feed aggregates (also what `GET /api/waste` returns, ``[r.to_dict() for r in rows]``).
        `edge.store.waste.WasteRow`: site, camera_id, product (the SKU when the item carried one, else its current
        produce), produce, day, hour (None in daily rows), items_inspected, predicted_waste (flagged),
        confirmed_waste, false_flags, pending_review, model_versions (sorted, comma-joined). since/until: dates,
        inclusive. An item counts under its *current* produce: a relabel moves it (and its flag) to the new row.
    store.write_waste_feed(since, until, *, hourly=False, site="default") -> (list[WasteRow], FeedWrite)
        Upsert of that window into the ``waste_feed`` table (what `qc waste export` runs); idempotent.
    store.waste_feed(since, until, *, hourly=False, site=None) -> list[WasteRow]   # the table as stored

Users (passwords hashed with scrypt; the plain password is never stored)::

    store.create_user(username, password, role="ops") -> User    # role "ops" (reviews) or "admin" (+ settings)
    store.verify_password(username, password) -> User | None     # None for unknown user or wrong password
    store.get_user(username) -> User | None
    store.set_password(username, password) -> None
    store.users() -> list[User]
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from edge.store.errors import StoreValueError

ReviewAction = Literal["confirm_waste", "not_waste", "relabel", "fix_box", "undo"]
QueueStatus = Literal["pending", "reviewed", "all"]
Role = Literal["ops", "admin"]

REVIEW_ACTIONS: tuple[str, ...] = ("confirm_waste", "not_waste", "relabel", "fix_box", "undo")
QUEUE_STATUSES: tuple[str, ...] = ("pending", "reviewed", "all")
ROLES: tuple[str, ...] = ("ops", "admin")

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels of the item's best frame


@dataclass(frozen=True)
class QueueEntry:
    """A flagged item as the review page shows it: current labels (after relabels/box fixes) and the model's."""

    flag_id: int
    item_id: int
    camera_id: str
    status: str  # "pending" | "confirmed" | "rejected"
    produce: str  # current: the reviewer's relabel when there is one, else the model's
    condition: str
    box: Box | None  # current box in frame best_seq (a fix_box, else the model's)
    detected_produce: str  # what the model said
    detected_condition: str
    detected_box: Box | None
    freshness: float
    sku: str | None
    first_seen_at: datetime
    last_seen_at: datetime
    counted_at: datetime
    best_seq: int | None
    model_version: str | None
    has_crop: bool
    has_frame: bool  # the whole frame best_seq is stored (`Store.flag_frame`)
    reviewed_by: str | None  # who made the latest decision still in force, and when
    reviewed_at: datetime | None


@dataclass(frozen=True)
class Review:
    """One row of the audit trail: who did what to which flag, when, and the flag's state before and after."""

    id: int
    flag_id: int
    item_id: int
    action: str  # one of REVIEW_ACTIONS
    reviewer: str
    at: datetime
    status: str  # the flag's status after this review
    produce: str | None  # relabel: the new produce (None: unchanged); undo: the produce restored
    condition: str | None
    box: Box | None  # fix_box: the new box; undo: the box restored
    undoes: int | None  # for action "undo": the id of the review it reverted
    undone_by: int | None  # the id of the "undo" review that reverted this one, if any
    batch_id: str | None  # shared by the reviews of one bulk_confirm (and by the undos of that batch)


@dataclass(frozen=True)
class FrameDetection:
    """One detection in a stored frame. ``track_id`` is the counter's item id (`Item.track_id`) when the box was
    tracked, which links it to the item counted from that track."""

    box: Box
    produce: str
    condition: str
    confidence: float
    freshness: float | None = None
    track_id: int | None = None


@dataclass(frozen=True)
class FrameImage:
    """A whole camera frame (JPEG) and every detection in it."""

    camera_id: str
    seq: int
    jpeg: bytes
    width: int
    height: int
    captured_at: datetime | None
    detections: tuple[FrameDetection, ...]


@dataclass(frozen=True)
class DashboardRow:
    """One produce kind on one day (all cameras)."""

    day: date
    produce: str
    inspected: int
    flagged: int
    confirmed: int
    rejected: int
    pending: int


@dataclass(frozen=True)
class PrecisionPoint:
    """The model's review precision on one day: confirmed / reviewed flags (None when none reviewed yet)."""

    day: date
    confirmed: int
    reviewed: int
    precision: float | None


@dataclass(frozen=True)
class Dashboard:
    """What the dashboard charts: per produce per day, and precision per day (days in order)."""

    rows: tuple[DashboardRow, ...]
    precision: tuple[PrecisionPoint, ...]


@dataclass(frozen=True)
class User:
    """A person who may sign in to the review page (never carries the password hash)."""

    username: str
    role: str  # "ops" | "admin"
    created_at: datetime


class ReviewConflictError(StoreValueError):
    """An undo would overwrite a later decision by someone else on the same flag; the undo is refused."""
