"""Admission on its own (real Pipeline, Batcher and SQLite store; the test plays the worker): per-camera order
after a 'retry', the hold that lapses, and a retry that takes the camera's later frames with it."""

from __future__ import annotations

import asyncio
from pathlib import Path

from service_harness import service_config

from edge.protocol import Ack, Code, FrameHeader
from edge.service.batcher import Batcher
from edge.service.metrics import Metrics
from edge.service.pipeline import Pipeline, ack_of
from edge.store.store import Store


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def header(seq: int, camera: str = "cam1") -> FrameHeader:
    return FrameHeader(camera, seq, 1_800_000_000.0 + seq)


def make(tmp_path: Path, queue_limit: int) -> tuple[Pipeline, Clock, Store]:
    config = service_config(tmp_path, tmp_path / "unused-registry",
                            batcher={"max_batch": 4, "max_wait_ms": 0, "queue_limit": queue_limit, "retry_hold_s": 5})
    store = Store.open(config.store_url)
    clock = Clock()
    pipeline = Pipeline(config, store, Batcher(4, 0.0, queue_limit), Metrics(), clock=clock)
    pipeline.ready = True
    return pipeline, clock, store


def test_after_a_retry_later_frames_wait_until_the_hold_lapses(tmp_path: Path) -> None:
    async def scenario() -> dict[str, Ack]:
        pipeline, clock, store = make(tmp_path, queue_limit=1)
        out: dict[str, Ack] = {}
        first = asyncio.create_task(pipeline.submit(header(0), b"", 0.0))
        await asyncio.sleep(0)
        out["full"] = await pipeline.submit(header(1), b"", 0.0)
        out["behind"] = await pipeline.submit(header(2), b"", 0.0)
        out["other_camera"] = await pipeline.submit(header(0, "cam2"), b"", 0.0)  # the queue is full for all
        (job,) = pipeline.batcher.drain()
        pipeline.finish(job, ack_of(job.header, "ok"))  # as the worker does after the commit
        out["first"] = await first
        out["still_behind"] = await pipeline.submit(header(3), b"", 0.0)
        clock.now = 6.0  # the daemon never resent frame 1: the hold lapses
        later = asyncio.create_task(pipeline.submit(header(3), b"", 0.0))
        await asyncio.sleep(0)
        (job,) = pipeline.batcher.drain()
        await asyncio.to_thread(store.commit_frame, "cam1", 3, 1.0, 1.0, None, 0, [], None)
        pipeline.finish(job, ack_of(job.header, "ok"))
        out["after_lapse"] = await later
        out["too_late"] = await pipeline.submit(header(1), b"", 0.0)  # now older than the camera's newest
        out["too_late_again"] = await pipeline.submit(header(1), b"", 0.0)
        out["processed_again"] = await pipeline.submit(header(3), b"", 0.0)
        store.close()
        return out

    acks = asyncio.run(scenario())
    summary = {k: (a.status, a.code) for k, a in acks.items()}
    assert summary == {
        "full": ("retry", "overloaded"),
        "behind": ("retry", "blocked"),
        "other_camera": ("retry", "overloaded"),
        "first": ("ok", None),
        "still_behind": ("retry", "blocked"),
        "after_lapse": ("ok", None),
        "too_late": ("dropped", "seq_out_of_order"),
        "too_late_again": ("dropped", "already_dropped"),
        "processed_again": ("duplicate", None),
    }


def test_a_retried_frame_takes_its_cameras_later_frames_with_it(tmp_path: Path) -> None:
    async def scenario() -> tuple[list[Ack], Ack, Ack]:
        pipeline, _, store = make(tmp_path, queue_limit=10)
        cam1 = [asyncio.create_task(pipeline.submit(header(s), b"", 0.0)) for s in (10, 11, 12)]
        cam2 = asyncio.create_task(pipeline.submit(header(10, "cam2"), b"", 0.0))
        await asyncio.sleep(0)
        jobs = pipeline.batcher.drain()
        # the commit of frame 11 failed (as the worker reports it): 11 and 12 are answered retry, 10 and cam2 not
        pipeline.retry(jobs[1], Code.STORE_UNAVAILABLE, "database down")
        for job in (jobs[0], jobs[3]):
            pipeline.finish(job, ack_of(job.header, "ok"))
        acks = [await t for t in cam1]
        resend = asyncio.create_task(pipeline.submit(header(11), b"", 0.0))  # the resend is admitted again
        await asyncio.sleep(0)
        (job,) = pipeline.batcher.drain()
        pipeline.finish(job, ack_of(job.header, "ok"))
        out = (acks, await cam2, await resend)
        store.close()
        return out

    acks, other, resent = asyncio.run(scenario())
    assert [(a.seq, a.status, a.code) for a in acks] == [
        (10, "ok", None), (11, "retry", "store_unavailable"), (12, "retry", "blocked")]
    assert (other.camera_id, other.status) == ("cam2", "ok")
    assert (resent.seq, resent.status) == (11, "ok")
