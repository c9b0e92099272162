"""Which cameras the worker flushes when idle (`Pipeline.idle_lanes`): a real Pipeline and store, a test clock."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from service_harness import service_config

from edge.protocol import FrameHeader
from edge.service.batcher import Batcher
from edge.service.metrics import Metrics
from edge.service.pipeline import Pipeline
from edge.store.store import Store

IDLE_S = 5.0


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("setup", "quiet_s", "expect"),
    [
        ({}, 5.0, ["cam1"]),  # quiet long enough, a frame finished since the last flush
        ({}, 4.9, []),  # not quiet long enough
        ({"flushed_seq": 7}, 60.0, []),  # flushed already, nothing new since
        ({"flushed_seq": 6}, 60.0, ["cam1"]),  # a newer frame finished after the last flush
        ({"finished_seq": None}, 60.0, []),  # never sent a frame
        ({"inflight": True}, 60.0, []),  # a frame of its own still in the pipeline
        ({"barrier": 8, "barrier_in": 3.0}, 60.0, []),  # waiting for a resend of a frame answered 'retry'
        ({"barrier": 8, "barrier_in": -1.0}, 60.0, ["cam1"]),  # that hold lapsed
        ({"ready": False}, 60.0, []),  # the model is not loaded
        ({"stopping": True}, 60.0, []),  # shutting down: the next instance resumes the tracks
    ],
)
def test_idle_lanes(tmp_path: Path, setup: dict[str, Any], quiet_s: float, expect: list[str]) -> None:
    config = service_config(tmp_path, tmp_path / "unused-registry", counting={"idle_flush_s": IDLE_S})
    clock = Clock()
    with Store.open(config.store_url) as store:
        pipeline = Pipeline(config, store, Batcher(4, 0.0, 8), Metrics(), clock=clock)
        asyncio.run(pipeline.restore())  # both cameras: last frame "now"
        pipeline.ready = setup.get("ready", True)
        pipeline.stopping = setup.get("stopping", False)
        lane = pipeline.lanes["cam1"]
        lane.finished_seq = setup.get("finished_seq", 7)
        lane.flushed_seq = setup.get("flushed_seq")
        if setup.get("inflight"):
            lane.inflight[8] = object()  # type: ignore[assignment]
        if "barrier" in setup:
            lane.barrier, lane.barrier_until = setup["barrier"], clock.now + quiet_s + setup["barrier_in"]
        clock.now += quiet_s
        assert [lane.camera.id for lane in pipeline.idle_lanes(IDLE_S)] == expect  # cam2 never sent a frame


def test_a_frame_resets_the_quiet_time(tmp_path: Path) -> None:
    config = service_config(tmp_path, tmp_path / "unused-registry", counting={"idle_flush_s": IDLE_S})
    clock = Clock()
    with Store.open(config.store_url) as store:
        pipeline = Pipeline(config, store, Batcher(4, 0.0, 8), Metrics(), clock=clock)
        pipeline.ready = True
        pipeline.lanes["cam1"].finished_seq = 7
        clock.now += 4.0
        # frame 3 is older than the camera's newest (7): answered from the store, but the camera is talking
        asyncio.run(pipeline.submit(FrameHeader("cam1", 3, 1_800_000_000.0), b"", 0.0))
        clock.now += 4.0
        assert pipeline.idle_lanes(IDLE_S) == []
        clock.now += 1.0
        assert [lane.camera.id for lane in pipeline.idle_lanes(IDLE_S)] == ["cam1"]
