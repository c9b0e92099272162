"""Idle flush: the items still in view when a camera stops sending are committed once, and never again.

A counted item is handed on when its track ends; at the end of a stream the last items are still in view. The
reference is the offline pipeline (one Detector, one CameraCounter, then `flush()`); the service gets the same JPEGs
over a WebSocket, stays quiet longer than ``counting.idle_flush_s`` and must then hold exactly the reference's items,
also after a restart, a resend of the whole clip, and a restart that happened before the flush.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from service_harness import clip_as_jpegs, metric_value, open_stream, running, service_config

from edge.config import ServeConfig
from edge.models.serving import load_model
from edge.protocol import FrameHeader, decode_jpeg, encode_frame, parse_ack
from edge.service.counting import counter_factory
from edge.store.store import Store
from vision.frame import Frame

pytestmark = pytest.mark.slow  # a service waiting out its idle flush

IDLE_S = 1.0
PASSES = 8  # passes of the idle flush, one every IDLE_S / 4: two idle periods
WINDOW = 16  # below the harness's queue_limit: no 'retry' answers
T0 = 1_800_000_000.0


@pytest.fixture(scope="module")
def clip_jpegs(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    """A 3 s clip at 10 fps, dense enough that items are past the line and still in view at its end."""
    return clip_as_jpegs(tmp_path_factory.mktemp("flush_clip"), 3.0, seed=7, density=6.0)


def item_keys(items: list[Any]) -> list[tuple[Any, ...]]:
    return sorted((i.track_id, i.first_seq, i.last_seq, i.counted_seq, i.produce, i.condition, i.flagged, i.frames)
                  for i in items)


def offline(config: ServeConfig, jpegs: list[bytes]) -> tuple[list[Any], list[Any]]:
    """(items handed on while streaming, items handed on by the final flush) of the offline pipeline."""
    camera = config.camera("cam1")
    assert camera is not None
    model = load_model(config.model)
    counter: Any = None
    streamed: list[Any] = []
    for seq, jpeg in enumerate(jpegs):
        frame = Frame("cam1", seq, T0 + seq / 10, decode_jpeg(jpeg))
        counter = counter or counter_factory(config)(camera, model, frame)
        streamed += counter.update(frame, model.detector(frame.image)).counted
    return streamed, counter.flush()


def stream(svc: Any, jpegs: list[bytes]) -> list[str]:
    """Send the clip pipelined, a window of frames in flight as a daemon does; the acks' statuses."""
    statuses: list[str] = []
    with open_stream(svc, "cam1") as ws:
        for start in range(0, len(jpegs), WINDOW):
            chunk = range(start, min(start + WINDOW, len(jpegs)))
            for seq in chunk:
                ws.send(encode_frame(FrameHeader("cam1", seq, T0 + seq / 10), jpegs[seq]))
            statuses += [parse_ack(ws.recv(timeout=60)).status for _ in chunk]
    return statuses


def flushes(svc: Any) -> float:
    return metric_value(httpx.get(f"{svc.url}/metrics").text, "qc_idle_flushes_total", camera="cam1") or 0.0


def idle_checks(svc: Any) -> float:
    return metric_value(httpx.get(f"{svc.url}/metrics").text, "qc_idle_checks_total") or 0.0


def wait_for_idle_checks(svc: Any, passes: int, timeout: float = 20.0) -> None:
    """Until the idle flush has passed over the cameras ``passes`` more times: a flush it did not do by then, it
    did not do with nothing new to flush."""
    target = idle_checks(svc) + passes
    deadline = time.monotonic() + timeout
    while idle_checks(svc) < target:
        assert time.monotonic() < deadline, "the idle flush stopped passing over the cameras"
        time.sleep(0.1)


def wait_for_flush(svc: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while flushes(svc) < 1:
        assert time.monotonic() < deadline, "no idle flush"
        time.sleep(0.1)


def stored_keys(config: ServeConfig) -> list[tuple[Any, ...]]:
    with Store.open(config.store_url) as store:
        return item_keys(store.items(camera_id="cam1"))


def test_items_in_view_are_committed_once_when_the_camera_goes_quiet(
    tmp_path: Path, served_registry: Path, clip_jpegs: list[bytes]
) -> None:
    config = service_config(tmp_path, served_registry, counting={"idle_flush_s": IDLE_S})
    streamed, flushed = offline(config, clip_jpegs)
    if not flushed:
        pytest.skip("the served model counts no item still in view at the clip's end (an untrained stand-in)")
    with running(config) as svc:
        assert stream(svc, clip_jpegs) == ["ok"] * len(clip_jpegs)
        assert stored_keys(config) == item_keys(streamed)  # the items in view wait for their tracks to end ...
        wait_for_flush(svc)  # ... until the camera has been quiet for IDLE_S
        assert stored_keys(config) == item_keys(streamed + flushed)
        text = httpx.get(f"{svc.url}/metrics").text
        counted = sum(metric_value(text, "qc_items_counted_total", camera="cam1", produce=p) or 0
                      for p in {i.produce for i in streamed + flushed})
        assert counted == len(streamed) + len(flushed)
        wait_for_idle_checks(svc, PASSES)
        assert flushes(svc) == 1  # nothing new came: no second flush
    with running(config) as svc:  # a restart after the flush, quiet, then the whole clip again
        wait_for_flush(svc)  # the restored (already flushed) checkpoint is flushed once more: nothing to hand on
        assert stream(svc, clip_jpegs) == ["duplicate"] * len(clip_jpegs)
        wait_for_idle_checks(svc, PASSES)  # quiet again: a flush that would store items twice has had its chance
    assert stored_keys(config) == item_keys(streamed + flushed)


def test_a_restart_before_the_flush_still_commits_the_items_in_view(
    tmp_path: Path, served_registry: Path, clip_jpegs: list[bytes]
) -> None:
    config = service_config(tmp_path, served_registry, counting={"idle_flush_s": 600})
    streamed, flushed = offline(config, clip_jpegs)
    if not flushed:
        pytest.skip("the served model counts no item still in view at the clip's end (an untrained stand-in)")
    with running(config) as svc:  # the service stops before the camera has been quiet long enough
        assert stream(svc, clip_jpegs) == ["ok"] * len(clip_jpegs)
    assert stored_keys(config) == item_keys(streamed)
    quick = service_config(tmp_path, served_registry, counting={"idle_flush_s": IDLE_S})
    with running(quick) as svc:  # back up; the camera sends nothing: its checkpoint is flushed
        wait_for_flush(svc)
    assert stored_keys(config) == item_keys(streamed + flushed)
    with running(quick) as svc:
        wait_for_flush(svc)
    assert stored_keys(config) == item_keys(streamed + flushed)
