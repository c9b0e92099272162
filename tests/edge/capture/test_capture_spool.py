"""The spool: bounded bytes with a counted overflow policy, atomic files, and exact recovery after a crash."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.capture.errors import SpoolError
from edge.capture.spool import OverflowPolicy, PutResult, Spool, frame_name
from edge.protocol import FrameHeader, encode_frame, parse_frame

CAMERA = "cam1"


def message(seq: int, camera: str = CAMERA, side: int = 32) -> bytes:
    """A real frame message: header + a JPEG of a flat image whose level encodes ``seq``."""
    image = np.full((side, side, 3), (seq * 10) % 256, np.uint8)
    ok, jpeg = cv2.imencode(".jpg", image)
    assert ok
    return encode_frame(FrameHeader(camera_id=camera, seq=seq, captured_at=1000.0 + seq), jpeg.tobytes())


def spooled_seqs(spool: Spool) -> list[int]:
    out, cursor = [], -1
    while (seq := spool.next_after(cursor)) is not None:
        out.append(seq)
        cursor = seq
    return out


def open_spool(root: Path, **kwargs: object) -> Spool:
    kwargs.setdefault("max_bytes", 10_000_000)
    return Spool(root, CAMERA, **kwargs)  # type: ignore[arg-type]


def test_put_read_finish_and_the_counters_balance(tmp_path: Path) -> None:
    spool = open_spool(tmp_path)
    for seq in range(5):
        assert spool.put(seq, message(seq)) is PutResult.STORED
    assert spool.read(3) == message(3)
    assert spool.finish(0, "ok") and spool.finish(1, "duplicate") and spool.finish(2, "dropped:overloaded")
    assert not spool.finish(0, "ok")  # a repeated ack is not counted twice
    stats = spool.stats()
    c = stats.counters
    assert (c.captured, c.acked_ok, c.acked_duplicate, c.dropped, stats.spooled) == (
        5,
        1,
        1,
        {"dropped:overloaded": 1},
        2,
    )
    assert stats.balanced
    assert spooled_seqs(spool) == [3, 4]
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == [frame_name(3), frame_name(4)]
    spool.close()


def test_error_outcomes_go_to_the_dead_letters(tmp_path: Path) -> None:
    spool = open_spool(tmp_path)
    spool.put(7, message(7))
    assert spool.finish(7, "error:corrupt_jpeg", detail="does not decode")
    assert (tmp_path / "dead" / frame_name(7)).read_bytes() == message(7)
    reason = json.loads((tmp_path / "dead" / (frame_name(7) + ".json")).read_text())
    assert (reason["outcome"], reason["detail"]) == ("error:corrupt_jpeg", "does not decode")
    stats = spool.stats()
    assert stats.counters.dropped == {"error:corrupt_jpeg": 1} and stats.dead_letters == 1 and stats.balanced
    spool.close()


def test_drop_oldest_keeps_the_bound_and_counts_and_logs_each_drop(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    size = len(message(0))
    spool = open_spool(tmp_path, max_bytes=3 * size + 10)
    with caplog.at_level(logging.WARNING, logger="edge.capture.spool"):
        for seq in range(6):
            assert spool.put(seq, message(seq)) is PutResult.STORED
    stats = spool.stats()
    assert spooled_seqs(spool) == [3, 4, 5]
    assert stats.spooled_bytes <= stats.max_bytes
    assert stats.counters.dropped == {"spool_full": 3} and stats.balanced
    assert "dropped oldest unacked frame 0" in caplog.text  # logged (rate-limited: one line per interval)
    spool.close()


def test_drop_oldest_never_evicts_a_frame_in_flight(tmp_path: Path) -> None:
    size = len(message(0))
    spool = open_spool(tmp_path, max_bytes=2 * size + 10)
    spool.put(0, message(0))
    spool.put(1, message(1))
    spool.pin(0)  # sent, its ack may be on the way
    assert spool.put(2, message(2)) is PutResult.STORED
    assert spooled_seqs(spool) == [0, 2]
    spool.pin(2)
    assert spool.put(3, message(3)) is PutResult.DROPPED  # everything is in flight: the new frame is the one dropped
    stats = spool.stats()
    assert stats.counters.dropped == {"spool_full": 2} and stats.counters.captured == 4 and stats.balanced
    spool.close()


def test_stop_capturing_refuses_new_frames_and_keeps_the_old(tmp_path: Path) -> None:
    size = len(message(0))
    spool = open_spool(tmp_path, max_bytes=2 * size + 10, policy=OverflowPolicy.STOP_CAPTURING)
    results = [spool.put(seq, message(seq)) for seq in range(4)]
    assert results == [PutResult.STORED, PutResult.STORED, PutResult.FULL, PutResult.FULL]
    stats = spool.stats()
    assert spooled_seqs(spool) == [0, 1] and stats.counters.captured == 2 and stats.counters.dropped == {}
    spool.close()


def test_a_frame_larger_than_the_whole_spool_is_dropped_with_its_reason(tmp_path: Path) -> None:
    spool = open_spool(tmp_path, max_bytes=100)
    assert spool.put(0, message(0)) is PutResult.DROPPED
    stats = spool.stats()
    assert stats.counters.dropped == {"frame_over_spool_size": 1} and stats.spooled == 0 and stats.balanced
    spool.close()


def test_wait_for_room_is_backpressure(tmp_path: Path) -> None:
    spool = open_spool(tmp_path)
    for seq in range(3):
        spool.put(seq, message(seq))
    assert not spool.wait_for_room(10, max_frames=3, timeout=0.05)
    spool.finish(0, "ok")
    assert spool.wait_for_room(10, max_frames=3, timeout=0.05)
    spool.close()


def test_reopen_resends_what_was_not_acked_and_keeps_the_seq_counter(tmp_path: Path) -> None:
    spool = open_spool(tmp_path)
    for seq in range(4):
        spool.put(seq, message(seq))
    spool.finish(0, "ok")
    spool.close()
    again = open_spool(tmp_path)
    assert spooled_seqs(again) == [1, 2, 3] and again.next_seq == 4
    assert again.read(2) == message(2)
    c = again.stats().counters
    assert (c.captured, c.acked_ok) == (4, 1)
    again.close()


CRASH_SCRIPT = textwrap.dedent(
    """
    import os, sys
    sys.path.insert(0, {tests!r})
    from test_capture_spool import message
    from edge.capture.spool import Spool
    spool = Spool({root!r}, "cam1", max_bytes=10_000_000)
    for seq in range(6):
        spool.put(seq, message(seq))
    spool.finish(0, "ok")
    spool.finish(1, "duplicate")
    os._exit(9)  # a crash: no close, no snapshot, the journal is all there is
    """
)


@pytest.fixture(scope="module")
def crashed_spool(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A spool left by a real crash: 6 frames put, 0 acked ok, 1 duplicate, then the process died."""
    root = tmp_path_factory.mktemp("crashed") / "spool"
    script = CRASH_SCRIPT.format(tests=str(Path(__file__).parent), root=str(root))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 9, proc.stderr
    assert (
        not (root / "state.json").exists() or json.loads((root / "state.json").read_text())["counters"]["captured"] == 0
    )
    return root


def crash_after_writes(template: Path, root: Path) -> None:
    shutil.copytree(template, root, dirs_exist_ok=True)


def test_recovery_after_a_crash_is_exact(tmp_path: Path, crashed_spool: Path) -> None:
    crash_after_writes(crashed_spool, tmp_path)
    # What a crash can leave besides: a half-written frame that never reached its rename, and a torn journal line.
    (tmp_path / "frames" / (frame_name(6) + ".tmp")).write_bytes(message(6)[:40])
    journal = next(tmp_path.glob("journal-*.log"))
    with journal.open("a") as fh:
        fh.write("f 2 o")
    spool = open_spool(tmp_path)
    stats = spool.stats()
    c = stats.counters
    assert (c.captured, c.acked_ok, c.acked_duplicate, stats.spooled) == (6, 1, 1, 4)
    assert spooled_seqs(spool) == [2, 3, 4, 5] and spool.next_seq == 6 and stats.balanced
    assert not list((tmp_path / "frames").glob("*.tmp"))
    spool.close()


def test_recovery_adopts_a_frame_whose_put_was_not_journaled(tmp_path: Path, crashed_spool: Path) -> None:
    crash_after_writes(crashed_spool, tmp_path)
    # The crash came after frame 6's rename but before its journal line.
    (tmp_path / "frames" / frame_name(6)).write_bytes(message(6))
    spool = open_spool(tmp_path)
    stats = spool.stats()
    assert spooled_seqs(spool) == [2, 3, 4, 5, 6] and stats.counters.captured == 7 and stats.balanced
    assert spool.next_seq == 7
    spool.close()


def test_recovery_finishes_an_ack_that_was_journaled_but_not_unlinked(tmp_path: Path, crashed_spool: Path) -> None:
    crash_after_writes(crashed_spool, tmp_path)
    journal = next(tmp_path.glob("journal-*.log"))
    with journal.open("a") as fh:
        fh.write("f 2 ok\n")  # the outcome reached the journal, the crash came before the unlink
    spool = open_spool(tmp_path)
    assert spooled_seqs(spool) == [3, 4, 5]
    assert not (tmp_path / "frames" / frame_name(2)).exists()
    stats = spool.stats()
    assert stats.counters.acked_ok == 2 and stats.balanced
    spool.close()


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda b: b[: len(b) - 30], "truncated_jpeg"),  # cut short (e.g. power loss without fsync)
        (lambda b: b"", "truncated_message"),
        (lambda b: message(99), "header says"),  # a frame of another seq under this name
    ],
)
def test_an_unreadable_frame_file_is_dead_lettered_and_counted(tmp_path: Path, damage, reason: str) -> None:
    spool = open_spool(tmp_path)
    spool.put(0, message(0))
    spool.put(1, message(1))
    spool.close()
    path = tmp_path / "frames" / frame_name(1)
    path.write_bytes(damage(path.read_bytes()))
    again = open_spool(tmp_path)
    stats = again.stats()
    assert spooled_seqs(again) == [0]
    assert stats.counters.dropped == {"corrupt_spool_file": 1} and stats.balanced
    assert (tmp_path / "dead" / frame_name(1)).exists()
    assert reason in (tmp_path / "dead" / (frame_name(1) + ".json")).read_text()
    again.close()


def test_a_frame_file_lost_by_the_filesystem_is_counted_not_hidden(tmp_path: Path) -> None:
    spool = open_spool(tmp_path)
    spool.put(0, message(0))
    spool.put(1, message(1))
    spool.close()
    (tmp_path / "frames" / frame_name(0)).unlink()
    again = open_spool(tmp_path)
    stats = again.stats()
    assert stats.counters.dropped == {"lost_from_spool": 1} and stats.spooled == 1 and stats.balanced
    again.close()


def test_the_stored_file_is_the_exact_wire_message(tmp_path: Path) -> None:
    spool = open_spool(tmp_path)
    spool.put(3, message(3))
    parsed = parse_frame((tmp_path / "frames" / frame_name(3)).read_bytes())
    assert (parsed.header.camera_id, parsed.header.seq) == (CAMERA, 3)
    spool.close()


@pytest.mark.parametrize(
    ("second_camera", "match"),
    [
        (CAMERA, "in use by another capture daemon"),
        ("cam2", None),  # checked after the first closes: see below
    ],
)
def test_one_daemon_per_spool(tmp_path: Path, second_camera: str, match: str | None) -> None:
    first = open_spool(tmp_path)
    if match is not None:
        with pytest.raises(SpoolError, match=match):
            Spool(tmp_path, second_camera, max_bytes=1000)
        first.close()
        return
    first.close()
    with pytest.raises(SpoolError, match="belongs to camera 'cam1', not 'cam2'"):
        Spool(tmp_path, second_camera, max_bytes=1000)
    open_spool(tmp_path).close()  # the refused open released its lock


def test_many_events_compact_the_journal(tmp_path: Path) -> None:
    spool = Spool(tmp_path, CAMERA, max_bytes=10_000_000, fsync=False)
    spool._ledger.compact_every = 10  # a small journal, so compaction happens within the test
    for seq in range(12):
        spool.put(seq, message(seq))
        spool.finish(seq, "ok")
    journals = list(tmp_path.glob("journal-*.log"))
    assert len(journals) == 1 and len(journals[0].read_text().splitlines()) < 10
    spool.close()
    again = open_spool(tmp_path)
    assert again.stats().counters.acked_ok == 12 and again.next_seq == 12
    again.close()
