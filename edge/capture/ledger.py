"""The spool's durable bookkeeping: the next seq, the set of spooled seqs and the outcome counters.

Kept as a snapshot (``state.json``, replaced atomically) plus an append-only journal
(``journal-<generation>.log``, one short line per event), so that every frame event costs one
append instead of rewriting a file, and the counters stay exact across a crash:

* ``p <seq>``            a frame was captured and its file is in the spool,
* ``f <seq> <outcome>``  it left the spool: ``ok``, ``duplicate`` or a drop reason (``spool_full``,
  ``error:<code>``...).

Loading replays the journal of the snapshot's generation on top of the snapshot (a torn last line from a
crash is ignored); `compact` writes the next generation's snapshot and only then deletes the old journal,
so a crash at any point leaves either the old snapshot + its journal or the new snapshot.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from edge.capture.errors import SpoolError

log = logging.getLogger(__name__)

SNAPSHOT_NAME = "state.json"
FORMAT_VERSION = 1


@dataclass
class Counters:
    """Where every captured frame went; ``captured == acked_ok + acked_duplicate + sum(dropped) + spooled``."""

    captured: int = 0
    acked_ok: int = 0
    acked_duplicate: int = 0
    dropped: dict[str, int] = field(default_factory=dict)

    def add_outcome(self, outcome: str) -> None:
        """Count one frame that left the spool with ``outcome``."""
        if outcome == "ok":
            self.acked_ok += 1
        elif outcome == "duplicate":
            self.acked_duplicate += 1
        else:
            self.dropped[outcome] = self.dropped.get(outcome, 0) + 1

    def copy(self) -> Counters:
        """An independent copy."""
        return Counters(self.captured, self.acked_ok, self.acked_duplicate, dict(self.dropped))


def fsync_dir(path: Path) -> None:
    """Make renames and unlinks in ``path`` durable (a file's fsync does not cover its directory entry)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, *, fsync: bool) -> None:
    """Write ``data`` to ``path`` via ``<path>.tmp`` + rename: readers see the old file or the new one, never half.

    With ``fsync`` the data is flushed before the rename (so a power loss cannot leave a renamed but empty
    file, the classic delayed-allocation trap) and the directory after it (so the new name survives).
    """
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        if fsync:
            fh.flush()
            os.fsync(fh.fileno())
    os.replace(tmp, path)
    if fsync:
        fsync_dir(path.parent)


class Ledger:
    """Snapshot + journal of one spool directory; not thread-safe (the spool serialises calls)."""

    def __init__(
        self, root: Path, *, fsync: bool, data_dirs: tuple[Path, ...] = (), compact_every: int = 20_000
    ) -> None:
        self.root = root
        self.data_dirs = data_dirs  # made durable before a snapshot that assumes their unlinks happened
        self.fsync = fsync
        self.compact_every = compact_every
        self.generation = 0
        self.next_seq = 0
        self.counters = Counters()
        self.spooled: set[int] = set()
        self.meta: dict[str, Any] = {}
        # The last journal event per seq since the snapshot, so recovery can tell a frame file whose put was
        # never journaled (adopt it) from one whose final outcome was journaled but not yet unlinked (delete it).
        self.last_event: dict[int, str] = {}
        self._journal: IO[str] | None = None
        self._journal_lines = 0

    # --- loading ----------------------------------------------------------------------------------------------

    def load(self) -> None:
        """Read the snapshot and replay its journal; an empty directory is a fresh ledger."""
        snap = self.root / SNAPSHOT_NAME
        if snap.exists():
            try:
                raw = json.loads(snap.read_text())
                if raw.get("format") != FORMAT_VERSION:
                    raise SpoolError(f"{snap}: spool format {raw.get('format')!r}, this daemon reads {FORMAT_VERSION}")
                self.generation = int(raw["generation"])
                self.next_seq = int(raw["next_seq"])
                c = raw["counters"]
                self.counters = Counters(
                    int(c["captured"]),
                    int(c["acked_ok"]),
                    int(c["acked_duplicate"]),
                    {str(k): int(v) for k, v in c["dropped"].items()},
                )
                self.spooled = {int(s) for s in raw["spooled"]}
                self.meta = dict(raw.get("meta") or {})
            except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
                raise SpoolError(
                    f"{snap} is unreadable ({exc}); move the spool directory aside to start afresh"
                ) from None
        self._replay(self._journal_path(self.generation))

    def _journal_path(self, generation: int) -> Path:
        return self.root / f"journal-{generation}.log"

    def _replay(self, path: Path) -> None:
        if not path.exists():
            return
        lines = path.read_text(errors="replace").split("\n")
        # Every complete event ends with a newline; text after the last one is an append torn by a crash.
        torn = 1 if lines[-1] else 0
        for line in lines[:-1]:
            parts = line.split(" ")
            try:
                if parts[0] == "p" and len(parts) == 2:
                    self._apply_put(int(parts[1]))
                elif parts[0] == "f" and len(parts) == 3:
                    self._apply_final(int(parts[1]), parts[2])
                else:
                    torn += 1
            except ValueError:
                torn += 1
        if torn:
            log.warning("spool journal %s: ignored %d unreadable line(s)", path, torn)

    # --- events -----------------------------------------------------------------------------------------------

    def _apply_put(self, seq: int) -> None:
        if seq in self.spooled:
            return
        self.spooled.add(seq)
        self.counters.captured += 1
        self.next_seq = max(self.next_seq, seq + 1)
        self.last_event[seq] = "p"

    def _apply_final(self, seq: int, outcome: str) -> None:
        if seq not in self.spooled:
            return
        self.spooled.discard(seq)
        self.counters.add_outcome(outcome)
        self.last_event[seq] = "f"

    def record_put(self, seq: int) -> None:
        """A frame file for ``seq`` is in place (renamed into the spool)."""
        self._append(f"p {seq}\n", durable=False)  # a lost put line is recovered by adopting the file
        self._apply_put(seq)

    def record_final(self, seq: int, outcome: str) -> None:
        """``seq`` leaves the spool with ``outcome``; call before unlinking its file."""
        if " " in outcome or "\n" in outcome or not outcome:
            raise ValueError(f"outcome must be one word, got {outcome!r}")
        # Durable before the unlink: otherwise a power loss could keep the unlink and lose the outcome,
        # and the frame would be miscounted as lost from the spool.
        self._append(f"f {seq} {outcome}\n", durable=True)
        self._apply_final(seq, outcome)

    def record_captured_and_dropped(self, seq: int, outcome: str) -> None:
        """A captured frame that never reached the spool (e.g. it could not be encoded, or did not fit)."""
        self._append(f"p {seq}\nf {seq} {outcome}\n", durable=False)
        self._apply_put(seq)
        self._apply_final(seq, outcome)

    def _append(self, text: str, *, durable: bool) -> None:
        if self._journal is None:
            self._journal = open(self._journal_path(self.generation), "a", encoding="utf-8")  # noqa: SIM115 (kept open)
        self._journal.write(text)
        self._journal.flush()  # in the page cache: survives a crash of this process
        if durable and self.fsync:
            os.fsync(self._journal.fileno())
        self._journal_lines += text.count("\n")

    def maybe_compact(self) -> None:
        """Compact when the journal has grown long; call only when every journaled unlink has been done.

        Never from inside an event: a snapshot taken between an outcome's journal line and its unlink would
        leave a file that recovery could not tell from a never-journaled put, and count it twice.
        """
        if self._journal_lines >= self.compact_every:
            self.compact()

    # --- snapshots --------------------------------------------------------------------------------------------

    def compact(self) -> None:
        """Write the state as the next generation's snapshot and drop the old journal."""
        old = self._journal_path(self.generation)
        if self._journal is not None:
            self._journal.close()
            self._journal = None
        if self.fsync:
            for d in self.data_dirs:
                fsync_dir(d)
        body = {
            "format": FORMAT_VERSION,
            "generation": self.generation + 1,
            "next_seq": self.next_seq,
            "counters": {
                "captured": self.counters.captured,
                "acked_ok": self.counters.acked_ok,
                "acked_duplicate": self.counters.acked_duplicate,
                "dropped": self.counters.dropped,
            },
            "spooled": sorted(self.spooled),
            "meta": self.meta,
        }
        write_atomic(self.root / SNAPSHOT_NAME, json.dumps(body).encode(), fsync=self.fsync)
        self.generation += 1
        self.last_event.clear()
        self._journal_lines = 0
        old.unlink(missing_ok=True)
        for stale in self.root.glob("journal-*.log"):  # left by a crash between the snapshot and the unlink
            if stale.name != self._journal_path(self.generation).name:
                stale.unlink(missing_ok=True)

    def close(self) -> None:
        """Compact (so the next start reads one small snapshot) and close the journal."""
        self.compact()
