"""The `Store` methods of the review side: review queue and decisions, whole frames, dashboard, waste feed, users.

A mixin so that ``store.py`` stays about frames and items; `Store` inherits it. The contract (names, arguments,
semantics) is written out in `edge.store.reviews`. Every method is one transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import date
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from edge.store import frame_images as frame_repo
from edge.store import review_queue as queue_repo
from edge.store import review_repo
from edge.store import review_samples as sample_repo
from edge.store import sessions as session_repo
from edge.store import waste_feed as feed_repo
from edge.store import users as user_repo
from edge.store.errors import NotFoundError, StoreValueError
from edge.store.review_samples import ReviewSample
from edge.store.reviews import Dashboard, FrameDetection, FrameImage, QueueEntry, Review, User
from edge.store.timestamps import Timestamp, to_utc, utc_now
from edge.store.waste import WasteRow, aggregate_waste, check_site, check_window, dashboard_of, item_facts
from edge.store.waste_feed import FeedWrite
from vision.options import is_int

if TYPE_CHECKING:
    from vision.detections import Detections
    from vision.taxonomy import Taxonomy

MAX_BULK = 500
_MAX_ID_LEN = 128


class ReviewMethods:
    """Review, frame-image, dashboard, waste-feed and user methods of `edge.store.Store`."""

    def _transaction(self, *, write: bool) -> AbstractContextManager[Connection]:
        raise NotImplementedError  # provided by Store

    # ---- queue and decisions --------------------------------------------------------------------------------------

    def review_queue(
        self,
        camera: str | None = None,
        produce: str | None = None,
        status: str = "pending",
        date: date | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> list[QueueEntry]:
        """One page of flagged items, oldest first; status "pending" | "reviewed" | "all" (see `edge.store.reviews`)."""
        with self._transaction(write=False) as conn:
            return queue_repo.query_queue(
                conn, camera=camera, produce=produce, status=status, day=date, offset=offset, limit=limit
            )

    def review_count(
        self, camera: str | None = None, produce: str | None = None, status: str = "pending", date: date | None = None
    ) -> int:
        """How many flags `review_queue` with the same filters pages through."""
        with self._transaction(write=False) as conn:
            return queue_repo.count_queue(conn, camera=camera, produce=produce, status=status, day=date)

    def review_entry(self, flag_id: int) -> QueueEntry:
        """One flag as the queue shows it; NotFoundError when there is none."""
        with self._transaction(write=False) as conn:
            return queue_repo.get_entry(conn, _check_id(flag_id, "flag id"))

    def apply_review(
        self,
        flag_id: int,
        action: str,
        reviewer: str,
        produce: str | None = None,
        condition: str | None = None,
        box: Sequence[float] | None = None,
    ) -> Review:
        """Apply one decision to a flag and store its audit row, atomically (semantics in `edge.store.reviews`)."""
        flag_id = _check_id(flag_id, "flag id")
        review_repo.check_name(reviewer, "reviewer")
        checked_box = review_repo.check_arguments(action, produce, condition, box)
        with self._transaction(write=True) as conn:
            return review_repo.apply_review(
                conn, flag_id, action, reviewer, produce=produce, condition=condition, box=checked_box, now=utc_now()
            )

    def bulk_confirm(self, flag_ids: Sequence[int], reviewer: str) -> list[Review]:
        """Confirm every flag as waste, all or nothing; the audit rows share a batch id so one undo reverts them all."""
        review_repo.check_name(reviewer, "reviewer")
        if isinstance(flag_ids, (str, bytes)):
            raise StoreValueError("flag_ids must be a sequence of integer ids")
        ids = list(dict.fromkeys(_check_id(f, "flag id") for f in flag_ids))
        if not 1 <= len(ids) <= MAX_BULK:
            raise StoreValueError(f"bulk_confirm takes 1 to {MAX_BULK} flag ids, got {len(ids)}")
        batch = str(uuid.uuid4())
        now = utc_now()
        with self._transaction(write=True) as conn:
            # Flag id order: two bulk writers lock their flags in the same order and never deadlock.
            return [
                review_repo.apply_review(
                    conn, f, "confirm_waste", reviewer, produce=None, condition=None, box=None, now=now, batch_id=batch
                )
                for f in sorted(ids)
            ]

    def undo_last(self, reviewer: str) -> list[Review]:
        """Revert the reviewer's latest action in force; the "undo" rows written ([] when nothing is left to undo)."""
        review_repo.check_name(reviewer, "reviewer")
        with self._transaction(write=True) as conn:
            return review_repo.undo_last(conn, reviewer, utc_now())

    def reviews(
        self, flag_id: int | None = None, reviewer: str | None = None, limit: int | None = None
    ) -> list[Review]:
        """The audit trail, oldest first, optionally for one flag or one reviewer."""
        with self._transaction(write=False) as conn:
            return review_repo.list_reviews(conn, flag_id=flag_id, reviewer=reviewer, limit=limit)

    # ---- whole frames ---------------------------------------------------------------------------------------------

    def save_frame_image(
        self,
        camera_id: str,
        seq: int,
        jpeg: bytes,
        width: int,
        height: int,
        detections: Sequence[FrameDetection] | Detections,
        captured_at: Timestamp | None = None,
        *,
        taxonomy: Taxonomy | None = None,
    ) -> bool:
        """Store a whole frame and every detection in it; False, writing nothing, when (camera_id, seq) is stored.

        ``detections``: `FrameDetection` values, or the frame's `vision.detections.Detections` (the counter's
        ``CountResult.tracked``, whose tracker ids are item ids) together with ``taxonomy`` to name the classes.
        """
        if not isinstance(camera_id, str) or not 0 < len(camera_id) <= _MAX_ID_LEN:
            raise StoreValueError(f"camera id must be a non-empty string of at most {_MAX_ID_LEN} characters")
        seq = _check_id(seq, f"frame {camera_id}: seq", minimum=0)
        where = f"frame image {camera_id}/{seq}"
        if not isinstance(detections, Sequence):
            if taxonomy is None:
                raise StoreValueError(f"{where}: Detections need the taxonomy that names their class ids")
            detections = frame_repo.frame_detections_from(detections, taxonomy)
        dets = list(detections)
        frame_repo.check_frame(jpeg, width, height, dets, where)
        captured = None if captured_at is None else to_utc(captured_at, "captured_at")
        with self._transaction(write=True) as conn:
            return frame_repo.insert_frame_image(
                conn,
                camera_id=camera_id,
                seq=seq,
                jpeg=bytes(jpeg),
                width=width,
                height=height,
                captured_at=captured,
                detections=dets,
                now=utc_now(),
            )

    def frame_image(self, camera_id: str, seq: int) -> FrameImage:
        """A stored whole frame with its detections; NotFoundError when it is not stored."""
        with self._transaction(write=False) as conn:
            return frame_repo.get_frame_image(conn, camera_id, seq)

    def flag_frame(self, flag_id: int) -> FrameImage:
        """The whole frame a flag's item was seen best in; NotFoundError when the flag or its frame is not stored."""
        flag_id = _check_id(flag_id, "flag id")
        with self._transaction(write=False) as conn:
            entry = queue_repo.get_entry(conn, flag_id)
            if entry.best_seq is None or not entry.has_frame:
                raise NotFoundError(f"no stored frame for flag id {flag_id}")
            return frame_repo.get_frame_image(conn, entry.camera_id, entry.best_seq)

    def review_samples(self) -> Iterator[ReviewSample]:
        """Every stored best frame of a decided flag with the items seen in it, one frame per read (for retraining)."""
        with self._transaction(write=False) as conn:
            keys = sample_repo.sample_frames(conn)
        for camera_id, seq in keys:
            with self._transaction(write=False) as conn:
                yield sample_repo.load_sample(conn, camera_id, seq)

    # ---- dashboard and waste feed ---------------------------------------------------------------------------------

    def dashboard(self, since: date, until: date) -> Dashboard:
        """Per produce per UTC day (since..until inclusive): inspected, flagged, confirmed...; precision per day."""
        start, end = check_window(since, until)
        with self._transaction(write=False) as conn:
            return dashboard_of(item_facts(conn, start, end))

    def waste_rows(self, since: date, until: date, *, hourly: bool = False, site: str = "default") -> list[WasteRow]:
        """The waste-feed rows of a day window (inclusive), computed from the items now (not read from the table)."""
        check_site(site)
        start, end = check_window(since, until)
        with self._transaction(write=False) as conn:
            return aggregate_waste(item_facts(conn, start, end), site=site, hourly=hourly)

    def write_waste_feed(
        self, since: date, until: date, *, hourly: bool = False, site: str = "default"
    ) -> tuple[list[WasteRow], FeedWrite]:
        """Compute the window's rows and upsert them into the ``waste_feed`` table, in one transaction."""
        check_site(site)
        start, end = check_window(since, until)
        with self._transaction(write=True) as conn:
            rows = aggregate_waste(item_facts(conn, start, end), site=site, hourly=hourly)
            written = feed_repo.upsert_window(
                conn, rows, site=site, since=since, until=until, hourly=hourly, now=utc_now()
            )
        return rows, written

    def waste_feed(
        self, since: date, until: date, *, hourly: bool = False, site: str | None = None
    ) -> list[WasteRow]:
        """The rows stored in the ``waste_feed`` table for a day window (inclusive), as forecasting reads them."""
        check_window(since, until)
        with self._transaction(write=False) as conn:
            return feed_repo.read_feed(conn, site=site, since=since, until=until, hourly=hourly)

    # ---- users ----------------------------------------------------------------------------------------------------

    def create_user(self, username: str, password: str, role: str = "ops") -> User:
        """Add a review-page user (role "ops" or "admin"); StoreValueError when the name is taken."""
        user_repo.check_username(username)
        hashed = user_repo.hash_password(password)
        with self._transaction(write=True) as conn:
            return user_repo.create_user(conn, username, hashed, role, utc_now())

    def verify_password(self, username: str, password: str) -> User | None:
        """The user when ``password`` is theirs; None for a wrong password or an unknown user (which costs the same)."""
        if not isinstance(username, str) or not isinstance(password, str) or len(password) > 1024:
            return None
        with self._transaction(write=False) as conn:
            found = user_repo.password_hash_of(conn, username)
        if found is None:
            user_repo.check_password(password, user_repo.DUMMY_HASH)
            return None
        user, stored = found
        return user if user_repo.check_password(password, stored) else None

    def get_user(self, username: str) -> User | None:
        """A user by name, None when there is none."""
        with self._transaction(write=False) as conn:
            return user_repo.get_user(conn, username)

    def set_password(self, username: str, password: str) -> None:
        """Replace a user's password and sign out all their sessions; NotFoundError for an unknown user."""
        hashed = user_repo.hash_password(password)
        with self._transaction(write=True) as conn:
            now = utc_now()
            user_repo.set_password_hash(conn, username, hashed, now)
            session_repo.revoke_user_sessions(conn, username, now)

    # ---- review sessions ------------------------------------------------------------------------------------------

    def open_session(self, sid: str, username: str, expires_at: Timestamp) -> None:
        """Record a signed-in session ``sid`` of ``username`` until ``expires_at``."""
        user_repo.check_username(username)
        with self._transaction(write=True) as conn:
            session_repo.open_session(conn, sid, username, utc_now(), to_utc(expires_at, "expires_at"))

    def session_user(self, sid: str, now: Timestamp | None = None) -> str | None:
        """The user of session ``sid`` while it is open (not signed out, not expired); None otherwise."""
        with self._transaction(write=False) as conn:
            return session_repo.session_user(conn, sid, utc_now() if now is None else to_utc(now))

    def revoke_session(self, sid: str) -> bool:
        """Sign session ``sid`` out, for every node sharing this store; False when it was not open."""
        with self._transaction(write=True) as conn:
            return session_repo.revoke_session(conn, sid, utc_now())

    def revoke_user_sessions(self, username: str) -> int:
        """Sign out every session of ``username``; how many were open."""
        with self._transaction(write=True) as conn:
            return session_repo.revoke_user_sessions(conn, username, utc_now())

    def users(self) -> list[User]:
        """Every review-page user, by name."""
        with self._transaction(write=False) as conn:
            return user_repo.list_users(conn)


def _check_id(value: Any, what: str, minimum: int = 1) -> int:
    if not is_int(value) or value < minimum:
        raise StoreValueError(f"{what} must be an integer >= {minimum}, got {value!r}")
    return value


__all__ = ["ReviewMethods"]
