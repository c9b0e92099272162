"""Reviews of flagged items: the values the review side reads and writes, and the rules its repository functions
keep (`review_queue`, `review_repo`, `frame_images`, `review_samples`, `waste`, `waste_feed`, `users`, `sessions`,
each called with a connection of `Store.transaction`).

Times are aware UTC datetimes; a "day" is the UTC day of the item's ``counted_at`` (when it crossed the line).

Flag status: ``pending`` (no decision in force), ``confirmed`` (confirm_waste: real waste), ``rejected`` (not_waste:
a false flag). ``relabel`` (produce and/or condition) and ``fix_box`` (a box in pixels of the item's best frame,
inside that frame when it is stored) correct the labels and leave the status alone, so a relabelled flag is still
pending. The queue's ``reviewed`` means confirmed or rejected; its ``produce`` filter is the *current* produce (after
relabels), and so is the produce an item counts under in the dashboard and the waste feed.

Order: the queue is oldest first (item counted_at, then flag id) for every status, so pages are stable; the audit
trail is oldest first (review id).

Decisions: each writes the flag's new state and one audit row (`Review`, with the state it replaced) in one
transaction under a lock on the flag. Produce and condition names are not checked against a taxonomy (the store knows
none: the caller checks them); the reviewer is a user name not checked against the users table (users may come from
the config file). A bulk confirm is all or nothing, one audit row per distinct flag sharing a batch id. Undo reverts
the reviewer's latest action still in force (a single review, or a whole bulk confirm) and writes "undo" rows;
repeated undos walk further back, and ``[]`` means nothing is left. Undo never overwrites another person's later
decision on the same flag: `ReviewConflictError`.

Idempotency: saving a whole frame is idempotent on (camera_id, seq) (False: already stored, nothing written); writing
the waste feed for a window is an upsert that changes nothing the second time. Review decisions are not idempotent:
each one is an audit row.

Refusals: `StoreValueError` for a malformed argument (bad id, action, box, name, window), before anything is
written; `NotFoundError` for an unknown flag, frame or user.
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
    has_frame: bool  # the whole frame best_seq is stored (`edge.store.frame_images.flag_frame`)
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
