"""The on-disk spool: every captured frame stays here, as its exact wire message, until the service acks it.

Layout of a spool directory (one per camera)::

    lock                       flock'd by the daemon that owns the spool (a second daemon is refused)
    state.json, journal-N.log  the ledger: next seq, spooled seqs, outcome counters (see `edge.capture.ledger`)
    stats.json                 a readable summary, rewritten by the daemon (never read back)
    frames/<seq:020d>.frame    one frame: the `edge.protocol.encode_frame` message (header + JPEG), resent as is
    dead/<seq:020d>.frame      frames the service answered ``error`` for (permanent), with a ``.json`` reason

A frame file is written to ``.frame.tmp`` and renamed; with ``fsync`` (the default) the data is flushed before
the rename and the directory after it, so after a crash or power loss a ``.frame`` file is complete or absent.
Leftover ``.tmp`` files are deleted on open; a ``.frame`` that does not parse is moved to ``dead/``, counted.

The spool is bounded in bytes (frame files only). When a new frame does not fit, the policy decides:
``drop-oldest`` (default) deletes the oldest frames that are not in flight, each counted as dropped
``spool_full`` and logged; ``stop-capturing`` refuses the new frame (`PutResult.FULL`), so the camera's frames
are skipped while the service is away and the spool keeps the oldest ones.
"""

from __future__ import annotations

import bisect
import errno
import fcntl
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import IO, Any

from edge.capture.errors import SpoolError
from edge.capture.ledger import Counters, Ledger, fsync_dir, write_atomic
from edge.protocol import ProtocolError, check_jpeg, parse_frame

log = logging.getLogger(__name__)

DROP_LOG_INTERVAL_S = 10.0  # one log line per interval while the spool keeps dropping, not one per frame


class OverflowPolicy(str, Enum):
    """What a full spool does with a new frame."""

    DROP_OLDEST = "drop-oldest"
    STOP_CAPTURING = "stop-capturing"


class PutResult(str, Enum):
    """What `Spool.put` did with a frame."""

    STORED = "stored"  # in the spool, waiting for its ack
    DROPPED = "dropped"  # captured but dropped at once (larger than the whole spool, or nothing evictable)
    FULL = "full"  # stop-capturing: not captured, the spool is full
    ALREADY_SPOOLED = "already_spooled"  # this seq is in the spool already (a file replayed from its start)


@dataclass(frozen=True)
class SpoolStats:
    """A consistent view of the spool's counters."""

    counters: Counters
    spooled: int
    spooled_bytes: int
    max_bytes: int
    dead_letters: int
    next_seq: int

    @property
    def balanced(self) -> bool:
        """Every captured frame is accounted for: acked, dropped with a reason, or still spooled."""
        c = self.counters
        return c.captured == c.acked_ok + c.acked_duplicate + sum(c.dropped.values()) + self.spooled


def frame_name(seq: int) -> str:
    """The file name of ``seq`` (zero-padded so names sort like seqs)."""
    return f"{seq:020d}.frame"


class Spool:
    """A camera's bounded store-and-forward spool; thread-safe (capture thread puts, sender reads and finishes)."""

    def __init__(
        self,
        root: Path,
        camera_id: str,
        *,
        max_bytes: int,
        policy: OverflowPolicy = OverflowPolicy.DROP_OLDEST,
        fsync: bool = True,
        max_dead_letters: int = 1000,
    ) -> None:
        """Open (creating if needed) the spool at ``root`` for ``camera_id``, lock it and recover its contents."""
        if max_bytes < 1:
            raise SpoolError(f"spool max bytes must be >= 1, got {max_bytes}")
        self.root = Path(root)
        self.camera_id = camera_id
        self.max_bytes = max_bytes
        self.policy = OverflowPolicy(policy)
        self.fsync = fsync
        self.max_dead_letters = max_dead_letters
        self.frames_dir = self.root / "frames"
        self.dead_dir = self.root / "dead"
        self._cond = threading.Condition(threading.RLock())
        self._sizes: dict[int, int] = {}
        self._order: list[int] = []  # spooled seqs, ascending
        self._bytes = 0
        self._pinned: set[int] = set()
        self._listeners: list[Callable[[], None]] = []
        self._last_drop_log = 0.0
        self._closed = False
        self._drops_since_log = 0
        try:
            self.frames_dir.mkdir(parents=True, exist_ok=True)
            self.dead_dir.mkdir(exist_ok=True)
        except OSError as exc:
            raise SpoolError(f"cannot create spool directory {self.root}: {exc}") from None
        self._lock_file = self._take_lock()
        self._ledger = Ledger(self.root, fsync=fsync, data_dirs=(self.frames_dir,))
        self._ledger.load()
        owner = self._ledger.meta.get("camera_id")
        if owner is not None and owner != camera_id:
            self._release_lock()
            raise SpoolError(
                f"spool {self.root} belongs to camera {owner!r}, not {camera_id!r}; use one spool per camera"
            )
        self._ledger.meta["camera_id"] = camera_id
        self._recover()
        self._ledger.compact()

    # --- opening ----------------------------------------------------------------------------------------------

    def _take_lock(self) -> IO[str]:
        fh = open(self.root / "lock", "a+", encoding="utf-8")  # noqa: SIM115 (held for the spool's life)
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "?"
            fh.close()
            raise SpoolError(f"spool {self.root} is in use by another capture daemon (pid {holder})") from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        return fh

    def _release_lock(self) -> None:
        fcntl.flock(self._lock_file.fileno(), fcntl.LOCK_UN)
        self._lock_file.close()

    def _recover(self) -> None:
        """Reconcile the frame files with the ledger after a clean stop or a crash."""
        ledger = self._ledger
        on_disk: dict[int, Path] = {}
        for path in self.frames_dir.iterdir():
            if path.name.endswith(".tmp"):  # a write that never reached its rename: never captured
                path.unlink(missing_ok=True)
                continue
            try:
                seq = int(path.name.removesuffix(".frame"))
            except ValueError:
                log.warning("spool %s: ignoring unexpected file %s", self.root, path.name)
                continue
            on_disk[seq] = path
        for seq in sorted(on_disk):
            path = on_disk[seq]
            if seq not in ledger.spooled:
                if ledger.last_event.get(seq) == "f":  # its outcome was journaled, the unlink was not done
                    path.unlink(missing_ok=True)
                    continue
                ledger.record_put(seq)  # renamed into place but the put never reached the journal: adopt it
            problem = self._check_file(seq, path)
            if problem:
                log.warning("spool %s: frame %d is unreadable (%s); moved to dead letters", self.root, seq, problem)
                self._to_dead_letters(seq, path, "corrupt_spool_file", problem)
                ledger.record_final(seq, "corrupt_spool_file")
                continue
            size = path.stat().st_size
            self._sizes[seq] = size
            self._bytes += size
        self._order = sorted(self._sizes)
        for seq in sorted(ledger.spooled - set(self._sizes)):
            # Only possible when a crash lost a frame file the ledger had counted (e.g. fsync off + power loss).
            log.warning("spool %s: frame %d is in the ledger but its file is gone; counted as lost", self.root, seq)
            ledger.record_final(seq, "lost_from_spool")
        if self._sizes:
            log.info("spool %s: %d unacked frame(s) (%d bytes) to resend", self.root, len(self._sizes), self._bytes)

    def _check_file(self, seq: int, path: Path) -> str | None:
        try:
            message = parse_frame(path.read_bytes(), check_size=False)
            check_jpeg(message.payload)
        except ProtocolError as exc:
            return f"{exc.code.value}: {exc}"
        except OSError as exc:
            return str(exc)
        if message.header.seq != seq or message.header.camera_id != self.camera_id:
            return f"header says {message.header.camera_id}/{message.header.seq}"
        return None

    # --- capture side -----------------------------------------------------------------------------------------

    @property
    def next_seq(self) -> int:
        """One past the highest seq ever captured into this spool (persists across restarts)."""
        with self._cond:
            return self._ledger.next_seq

    @property
    def meta(self) -> dict[str, Any]:
        """Free-form persistent facts about the spool's source (kept in the snapshot); use `set_meta` to change."""
        with self._cond:
            return dict(self._ledger.meta)

    def set_meta(self, **values: Any) -> None:
        """Persist ``values`` in the snapshot now."""
        with self._cond:
            self._ledger.meta.update(values)
            self._ledger.compact()

    def add_listener(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (from the putting thread, outside the lock) after every stored frame."""
        self._listeners.append(callback)

    def put(self, seq: int, message: bytes) -> PutResult:
        """Store one encoded frame message under ``seq`` (the seq in its header), applying the overflow policy."""
        size = len(message)
        with self._cond:
            if self._closed:  # a capture thread that outlived its daemon's shutdown
                raise SpoolError(f"spool {self.root} is closed")
            if seq in self._sizes:
                return PutResult.ALREADY_SPOOLED
            if size > self.max_bytes:
                self._ledger.record_captured_and_dropped(seq, "frame_over_spool_size")
                self._log_drop(f"frame {seq} is {size} bytes, over the whole spool ({self.max_bytes})")
                return PutResult.DROPPED
            if self._bytes + size > self.max_bytes:
                if self.policy is OverflowPolicy.STOP_CAPTURING:
                    return PutResult.FULL
                if not self._evict_for(size):
                    self._ledger.record_captured_and_dropped(seq, "spool_full")
                    self._log_drop(f"spool full and every frame in it is in flight; frame {seq} dropped")
                    return PutResult.DROPPED
            path = self.frames_dir / frame_name(seq)
            try:
                write_atomic(path, message, fsync=self.fsync)
            except OSError as exc:
                path.with_name(path.name + ".tmp").unlink(missing_ok=True)
                if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                    raise SpoolError(f"cannot write to spool {self.root}: {exc}") from None
                # The disk filled up below the spool's own bound (other files on it): a drop, not a crash.
                self._ledger.record_captured_and_dropped(seq, "disk_full")
                self._log_drop(f"disk full under {self.root}; frame {seq} dropped ({exc.strerror})")
                return PutResult.DROPPED
            self._ledger.record_put(seq)
            self._sizes[seq] = size
            bisect.insort(self._order, seq)
            self._bytes += size
            self._ledger.maybe_compact()
        for callback in self._listeners:
            callback()
        return PutResult.STORED

    def record_unsendable(self, seq: int, reason: str) -> None:
        """Count a captured frame that could not be made into a message (e.g. it encodes over the size cap)."""
        with self._cond:
            self._ledger.record_captured_and_dropped(seq, reason)
            self._ledger.maybe_compact()

    def _evict_for(self, size: int) -> bool:
        """Drop the oldest frames not in flight until ``size`` more bytes fit; False when that is impossible."""
        evictable = [s for s in self._order if s not in self._pinned]
        freed = sum(self._sizes[s] for s in evictable)
        if self._bytes - freed + size > self.max_bytes:
            return False
        for seq in evictable:
            if self._bytes + size <= self.max_bytes:
                break
            self._remove(seq, "spool_full")
            self._log_drop(f"spool full ({self.max_bytes} bytes): dropped oldest unacked frame {seq}")
        return True

    def _log_drop(self, message: str) -> None:
        self._drops_since_log += 1
        now = time.monotonic()
        if now - self._last_drop_log >= DROP_LOG_INTERVAL_S:
            more = f" (+{self._drops_since_log - 1} more since the last report)" if self._drops_since_log > 1 else ""
            log.warning("camera %s: %s%s", self.camera_id, message, more)
            self._last_drop_log = now
            self._drops_since_log = 0

    def wait_for_room(self, size: int, *, max_frames: int | None, timeout: float) -> bool:
        """Block until a ``size``-byte frame fits (and fewer than ``max_frames`` are spooled); False on timeout.

        For sources that lose nothing by waiting (a file read as fast as the service acks): backpressure
        instead of the overflow policy.
        """

        def room() -> bool:
            fits = self._bytes + size <= self.max_bytes or not self._sizes
            return fits and (max_frames is None or len(self._sizes) < max_frames)

        with self._cond:
            return self._cond.wait_for(room, timeout=timeout)

    # --- sender side ------------------------------------------------------------------------------------------

    def next_after(self, cursor: int) -> int | None:
        """The lowest spooled seq greater than ``cursor`` (``-1`` for the oldest), or None."""
        with self._cond:
            i = bisect.bisect_right(self._order, cursor)
            return self._order[i] if i < len(self._order) else None

    def read(self, seq: int) -> bytes | None:
        """The stored message of ``seq``, or None when it is no longer spooled."""
        with self._cond:
            if seq not in self._sizes:
                return None
            return (self.frames_dir / frame_name(seq)).read_bytes()

    def pin(self, seq: int) -> None:
        """Mark ``seq`` in flight: drop-oldest will not evict it (its ack may already be on the way)."""
        with self._cond:
            self._pinned.add(seq)

    def unpin(self, seq: int) -> None:
        """``seq`` is no longer in flight."""
        with self._cond:
            self._pinned.discard(seq)

    def unpin_all(self) -> None:
        """The connection is gone: nothing is in flight."""
        with self._cond:
            self._pinned.clear()

    def finish(self, seq: int, outcome: str, *, detail: str | None = None) -> bool:
        """``seq`` got a final answer: ``ok``, ``duplicate``, ``dropped:<code>`` or ``error:<code>`` (dead-lettered).

        Returns False when ``seq`` is not spooled (a late or repeated ack); nothing is counted then.
        """
        with self._cond:
            if seq not in self._sizes:
                return False
            if outcome.startswith("error:"):
                self._to_dead_letters(seq, self.frames_dir / frame_name(seq), outcome, detail)
            self._remove(seq, outcome)
            self._ledger.maybe_compact()
            return True

    def _remove(self, seq: int, outcome: str) -> None:
        self._ledger.record_final(seq, outcome)
        (self.frames_dir / frame_name(seq)).unlink(missing_ok=True)
        self._bytes -= self._sizes.pop(seq)
        del self._order[bisect.bisect_left(self._order, seq)]
        self._pinned.discard(seq)
        self._cond.notify_all()

    def _to_dead_letters(self, seq: int, path: Path, outcome: str, detail: str | None) -> None:
        """Keep a frame the service can never accept, for a person to inspect; bounded in count."""
        try:
            os.replace(path, self.dead_dir / frame_name(seq))
            reason = {"seq": seq, "outcome": outcome, "detail": detail, "at": time.time()}
            (self.dead_dir / (frame_name(seq) + ".json")).write_text(json.dumps(reason))
            if self.fsync:
                fsync_dir(self.dead_dir)
        except OSError as exc:
            log.warning("spool %s: could not keep dead letter %d: %s", self.root, seq, exc)
        letters = sorted(self.dead_dir.glob("*.frame"))
        for old in letters[: max(0, len(letters) - self.max_dead_letters)]:
            old.unlink(missing_ok=True)
            old.with_name(old.name + ".json").unlink(missing_ok=True)

    # --- views and shutdown -----------------------------------------------------------------------------------

    def stats(self) -> SpoolStats:
        """The counters and the spool's current size, read under one lock so they balance."""
        with self._cond:
            return SpoolStats(
                counters=self._ledger.counters.copy(),
                spooled=len(self._sizes),
                spooled_bytes=self._bytes,
                max_bytes=self.max_bytes,
                dead_letters=sum(1 for _ in self.dead_dir.glob("*.frame")),
                next_seq=self._ledger.next_seq,
            )

    def __len__(self) -> int:
        with self._cond:
            return len(self._sizes)

    def wait_empty(self, timeout: float) -> bool:
        """Block until every spooled frame has its final answer; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._sizes, timeout=timeout)

    def close(self) -> None:
        """Write a final snapshot and release the lock; the spool's frames stay on disk for the next start."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._ledger.close()
            self._release_lock()
