"""`Store`: the edge service's database (SQLite by default, PostgreSQL by URL), opened at the schema's head revision.

The store owns the engine: `Store.open` migrates, `Store.transaction` hands out one connection in one transaction,
`Store.close` ends it. Everything else is a repository function of this package called with that connection (the
review page does so through a FastAPI dependency, the service's periodic checks with `Store.transaction`). The
methods below are the serving path's own operations (frames, items, flags, checkpoints, shadow results, model
versions, the whole frame of a flagged item's best view); each is one transaction and blocking. The store is safe to share between threads (one pooled connection per transaction); async code calls it
through a thread pool.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import InterfaceError, OperationalError

from edge.store import checkpoints as checkpoint_repo
from edge.store import flush as flush_repo
from edge.store import frame_images as frame_image_repo
from edge.store import frames as frame_repo
from edge.store import items as item_repo
from edge.store import models as model_repo
from edge.store import shadow as shadow_repo
from edge.store.engine import WRITE_OPTION, create_store_engine, display_url, dumps_strict, parse_url
from edge.store.errors import StoreUnavailableError, StoreValueError
from edge.store.migrate import upgrade_to_head
from edge.store.records import (
    FlagRecord,
    FlagStatus,
    FrameStatus,
    FrameTally,
    ItemRecord,
    ModelVersionRecord,
    ProduceCount,
)
from edge.store.reviews import FrameDetection
from edge.store.shadow import ShadowFrame
from edge.store.timestamps import Timestamp, to_utc, utc_now
from vision.options import is_int

if TYPE_CHECKING:
    from edge.tracking.item import Item
    from vision.detections import Detections
    from vision.taxonomy import Taxonomy

_MAX_ID_LEN = 128  # camera ids and model versions: the String(128) columns


class Store:
    """Frames seen (the idempotency record), items, flags with crops, tracker checkpoints and model versions; plus
    reviews, whole frames, the waste feed and users, read and written by repository functions in a `transaction`
    (the rules: `edge.store.reviews`)."""

    def __init__(self, engine: Engine) -> None:
        """Wrap an engine whose database is already at head; use `Store.open`."""
        self._engine = engine

    @classmethod
    def open(cls, url: str, *, busy_timeout_s: float = 10.0) -> Store:
        """Open the store at ``url`` and migrate it to the head revision.

        ``url``: ``sqlite:///path/qc.db`` (or a bare file path; the parent directory is created), or
        ``postgresql+psycopg://user@host:5432/db`` (``postgresql://`` means psycopg 3 too); a PostgreSQL schema other
        than ``public`` is chosen with ``?options=-csearch_path%3Dmyschema``. ``busy_timeout_s``: how long a SQLite
        writer waits for another writer's lock before the call fails with StoreUnavailableError.
        """
        engine = create_store_engine(parse_url(url), busy_timeout_s=busy_timeout_s)
        try:
            upgrade_to_head(engine)
        except (OperationalError, InterfaceError) as exc:
            engine.dispose()
            raise StoreUnavailableError(f"cannot open store {display_url(engine.url)!r}: {exc.orig}") from exc
        except BaseException:
            engine.dispose()
            raise
        return cls(engine)

    @property
    def url(self) -> str:
        """The store's URL with any password hidden."""
        return display_url(self._engine.url)

    @property
    def dialect(self) -> str:
        """'sqlite' or 'postgresql'."""
        return self._engine.dialect.name

    def close(self) -> None:
        """Close every pooled connection; the store cannot be used afterwards."""
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self, *, write: bool) -> Iterator[Connection]:
        """One pooled connection in one transaction: committed when the block ends, rolled back when it raises.

        ``write=True`` marks a writer (SQLite takes the write lock up front, so a read-then-write transaction never
        fails half-way on another writer's commit). An unreachable server, a dropped connection or a SQLite lock held
        past the busy timeout raise StoreUnavailableError, which is retryable.
        """
        try:
            with self._engine.connect() as conn:
                if write:
                    conn.execution_options(**{WRITE_OPTION: True})
                with conn.begin():
                    yield conn
        except (OperationalError, InterfaceError) as exc:
            # Unreachable server, dropped connection, SQLite lock held past the busy timeout: retryable (see the error).
            raise StoreUnavailableError(f"store {self.url!r} unavailable: {exc.orig}") from exc

    # ---- frames -------------------------------------------------------------------------------------------------

    def commit_frame(
        self,
        camera_id: str,
        seq: int,
        captured_at: Timestamp,
        received_at: Timestamp,
        model_version: str | None,
        detections_count: int,
        items: Sequence[Item],
        checkpoint: Mapping[str, Any] | None,
    ) -> bool:
        """Record a processed frame, the items counted in it (flagged ones with a pending flag and their crop) and
        the camera's tracker checkpoint, all in one transaction.

        Returns False, writing nothing, when (camera_id, seq) was already recorded (processed or dropped), also when
        another writer commits it concurrently. Times are unix seconds or aware datetimes. An item's counted_at is
        the capture time of its counted_seq frame (items are handed on after they crossed); an item without its own
        model_version gets ``model_version``.
        """
        _check_key(camera_id, seq)
        captured = to_utc(captured_at, "captured_at")
        received = to_utc(received_at, "received_at")
        rows = [item_repo.item_row(_checked_item(it, camera_id), model_version=model_version) for it in items]
        crops = [_checked_crop(it) for it in items]
        if checkpoint is not None:
            _check_checkpoint(checkpoint, camera_id)
        now = utc_now()
        with self.transaction(write=True) as conn:
            frame_id = frame_repo.insert_frame(
                conn,
                camera_id=camera_id,
                seq=seq,
                status="processed",
                reason=None,
                captured_at=captured,
                received_at=received,
                recorded_at=now,
                model_version=model_version,
                detections_count=int(detections_count),
            )
            if frame_id is None:
                return False
            item_repo.insert_items(conn, rows, crops, now)
            if checkpoint is not None:
                checkpoint_repo.save_checkpoint(conn, camera_id, seq, checkpoint, now)
        return True

    def commit_flush(
        self,
        camera_id: str,
        after_seq: int,
        items: Sequence[Item],
        checkpoint: Mapping[str, Any],
        *,
        model_version: str | None = None,
    ) -> list[Item] | None:
        """Commit a camera's idle flush in one transaction: the counted items its counter handed on when its tracks
        were ended (flagged ones with a pending flag and their crop) and the counter's state after, as of the camera's
        last finished frame ``after_seq``. Returns the items stored now (an item already stored is skipped), or
        None, writing nothing, when a frame after ``after_seq`` is already recorded (see `edge.store.flush`)."""
        _check_key(camera_id, after_seq)
        rows = [item_repo.item_row(_checked_item(it, camera_id), model_version=model_version) for it in items]
        crops = [_checked_crop(it) for it in items]
        _check_checkpoint(checkpoint, camera_id)
        with self.transaction(write=True) as conn:
            new = flush_repo.commit_flush(
                conn, camera_id=camera_id, after_seq=after_seq, rows=rows, crops_jpeg=crops, checkpoint=checkpoint,
                now=utc_now(),
            )
        return None if new is None else [items[i] for i in new]

    def record_dropped(
        self,
        camera_id: str,
        seq: int,
        reason: str,
        *,
        received_at: Timestamp | None = None,
        captured_at: Timestamp | None = None,
    ) -> bool:
        """Record that frame (camera_id, seq) was dropped for ``reason`` (a short code: 'overload', 'corrupt_jpeg').

        A dropped frame is finished with: a resend is answered from the store, never processed. Returns False,
        writing nothing, when the frame was already recorded (processed or dropped). An unusable ``captured_at``
        (NaN, out of range, naive) is stored as unknown rather than refused.
        """
        _check_key(camera_id, seq)
        if not isinstance(reason, str) or not reason.strip():
            raise StoreValueError(f"frame {camera_id}/{seq}: a dropped frame needs a non-empty reason")
        now = utc_now()
        received = now if received_at is None else to_utc(received_at, "received_at")
        captured = None
        if captured_at is not None:
            try:
                captured = to_utc(captured_at, "captured_at")
            except StoreValueError:
                pass  # the frame may be dropped *because* its header is bad: record it with the capture time unknown
        with self.transaction(write=True) as conn:
            frame_id = frame_repo.insert_frame(
                conn,
                camera_id=camera_id,
                seq=seq,
                status="dropped",
                reason=reason.strip(),
                captured_at=captured,
                received_at=received,
                recorded_at=now,
                model_version=None,
                detections_count=None,
            )
        return frame_id is not None

    def frame_status(self, camera_id: str, seq: int) -> FrameStatus | None:
        """'processed' or 'dropped' for a frame the store has finished with, None for one it has never seen."""
        with self.transaction(write=False) as conn:
            return frame_repo.frame_status(conn, camera_id, seq)

    def last_seq(self, camera_id: str) -> int | None:
        """The camera's highest recorded seq (processed or dropped); None for a camera never seen."""
        with self.transaction(write=False) as conn:
            return frame_repo.last_seq(conn, camera_id)

    def frame_tallies(self, camera_id: str | None = None) -> list[FrameTally]:
        """Per camera: frames processed and dropped per reason (frames captured = processed + dropped when 0 lost)."""
        with self.transaction(write=False) as conn:
            return frame_repo.tallies(conn, camera_id)

    def load_checkpoint(self, camera_id: str) -> dict[str, Any] | None:
        """The tracker state stored with the camera's latest committed frame, None when there is none."""
        with self.transaction(write=False) as conn:
            return checkpoint_repo.load_checkpoint(conn, camera_id)

    # ---- items, flags, crops ------------------------------------------------------------------------------------

    def items(
        self,
        camera_id: str | None = None,
        since: Timestamp | None = None,
        until: Timestamp | None = None,
        flagged: bool | None = None,
        *,
        produce: str | None = None,
        after_id: int | None = None,
        limit: int | None = None,
    ) -> list[ItemRecord]:
        """Counted items in storage order, filtered by camera, counted_at in [since, until), flagged, produce."""
        with self.transaction(write=False) as conn:
            return item_repo.query_items(
                conn,
                camera_id=camera_id,
                since=since,
                until=until,
                flagged=flagged,
                produce=produce,
                after_id=after_id,
                limit=limit,
            )

    def item(self, item_id: int) -> ItemRecord:
        """One item by its id; NotFoundError when there is none."""
        with self.transaction(write=False) as conn:
            return item_repo.get_item(conn, item_id)

    def counts_by_produce(
        self, camera_id: str | None = None, since: Timestamp | None = None, until: Timestamp | None = None
    ) -> dict[str, ProduceCount]:
        """Items counted and flagged per produce kind, counted_at in [since, until)."""
        with self.transaction(write=False) as conn:
            return item_repo.counts_by_produce(conn, camera_id=camera_id, since=since, until=until)

    def flags(
        self,
        camera_id: str | None = None,
        since: Timestamp | None = None,
        until: Timestamp | None = None,
        status: FlagStatus | None = None,
        *,
        produce: str | None = None,
        limit: int | None = None,
    ) -> list[FlagRecord]:
        """Flags with their items, oldest first; filtered by camera, item counted_at in [since, until), status."""
        with self.transaction(write=False) as conn:
            return item_repo.query_flags(
                conn, camera_id=camera_id, since=since, until=until, status=status, produce=produce, limit=limit
            )

    def crop(self, flag_id: int) -> bytes:
        """The JPEG crop saved with a flag; NotFoundError when the flag is unknown or has no crop."""
        with self.transaction(write=False) as conn:
            return item_repo.get_crop(conn, flag_id)

    def frame_versions(self, camera_id: str) -> dict[int, str | None]:
        """seq -> the model version that detected the frame, for every processed frame of ``camera_id``."""
        with self.transaction(write=False) as conn:
            return frame_repo.frame_versions(conn, camera_id)

    # ---- whole frames and reviews (the worker saves frames; the service's checks and end-to-end runs review) -----

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
        """`edge.store.frame_images.save_frame_image` in its own transaction: the whole frame of a flagged item's
        best view; False, writing nothing, when (camera_id, seq) is already stored."""
        with self.transaction(write=True) as conn:
            return frame_image_repo.save_frame_image(
                conn, camera_id, seq, jpeg, width, height, detections, captured_at, taxonomy=taxonomy
            )

    # ---- shadow results (edge.models) ----------------------------------------------------------------------------

    def record_shadow_frames(self, frames: Sequence[ShadowFrame]) -> int:
        """Store a batch of shadow results in one transaction; one already stored (same camera, seq and shadow
        version) is skipped. Returns how many were new."""
        for frame in frames:
            shadow_repo.check_shadow_frame(frame)
        if not frames:
            return 0
        with self.transaction(write=True) as conn:
            return shadow_repo.insert_shadow_frames(conn, frames, utc_now())

    def shadow_frames(
        self, camera_id: str | None = None, model_version: str | None = None, *, limit: int | None = None
    ) -> list[ShadowFrame]:
        """Stored shadow results, oldest first, filtered by camera and shadow version."""
        with self.transaction(write=False) as conn:
            return shadow_repo.query_shadow_frames(conn, camera_id=camera_id, model_version=model_version, limit=limit)

    # ---- model versions -----------------------------------------------------------------------------------------

    def record_model_version(self, version: str, sha256: str, stage: str, loaded_at: Timestamp, provider: str) -> None:
        """Record that ``version`` (ONNX digest ``sha256``) was loaded at ``stage`` on execution ``provider``.

        StoreError when the version name is already recorded with another digest.
        """
        for what, value in (("version", version), ("sha256", sha256), ("stage", stage), ("provider", provider)):
            if not isinstance(value, str) or not value or len(value) > _MAX_ID_LEN:
                raise StoreValueError(f"model {what} must be a non-empty string of at most {_MAX_ID_LEN} characters")
        loaded = to_utc(loaded_at, "loaded_at")
        with self.transaction(write=True) as conn:
            model_repo.record_model_version(
                conn, version=version, sha256=sha256.lower(), stage=stage, loaded_at=loaded, provider=provider
            )

    def model_versions(self) -> list[ModelVersionRecord]:
        """Every model version loaded so far with its latest stage and provider, most recently loaded first."""
        with self.transaction(write=False) as conn:
            return model_repo.list_model_versions(conn)


def _check_key(camera_id: str, seq: int) -> None:
    if not isinstance(camera_id, str) or not camera_id or len(camera_id) > _MAX_ID_LEN:
        raise StoreValueError(f"camera id must be a non-empty string of at most {_MAX_ID_LEN} characters")
    if not is_int(seq) or seq < 0:
        raise StoreValueError(f"frame {camera_id}: seq must be an integer >= 0, got {seq!r}")


def _checked_item(item: Item, camera_id: str) -> Item:
    where = f"frame {camera_id}: item track {getattr(item, 'track_id', '?')}"
    if item.camera_id != camera_id:
        raise StoreValueError(f"{where} belongs to camera {item.camera_id!r}")
    for name in ("produce", "condition"):
        value = getattr(item, name)
        if not isinstance(value, str) or not value:
            raise StoreValueError(f"{where}: {name} must be a non-empty string, got {value!r}")
    if not math.isfinite(float(item.freshness)):
        raise StoreValueError(f"{where}: freshness must be finite, got {item.freshness!r}")
    return item


def _checked_crop(item: Item) -> bytes | None:
    jpeg = item.best_crop_jpeg
    if jpeg is None or not item.flagged:
        return None
    if not isinstance(jpeg, (bytes, bytearray, memoryview)) or len(jpeg) == 0:
        raise StoreValueError(f"item track {item.track_id}: best_crop_jpeg must be non-empty bytes or None")
    return bytes(jpeg)


def _check_checkpoint(checkpoint: Mapping[str, Any], camera_id: str) -> None:
    # Serialise once up front: a state that is not plain JSON fails here with its camera named, not mid-transaction.
    try:
        dumps_strict(dict(checkpoint))
    except (TypeError, ValueError) as exc:
        raise StoreValueError(f"camera {camera_id}: tracker checkpoint is not plain JSON: {exc}") from exc
