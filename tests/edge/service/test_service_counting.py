"""Items through the service equal items of the same pipeline run offline, across a restart mid-clip.

The offline run is the reference: one Detector and one CameraCounter over the clip's frames in order, no batching,
no network, no restart. The service gets the same JPEGs over a WebSocket, is stopped halfway and restarted (the
counter resumes from its checkpoint), and is sent the whole clip again; it must commit exactly the reference's items.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from service_harness import clip_as_jpegs, open_stream, running, send_and_ack, service_config
from store_tx import read

from edge.models.serving import load_model
from edge.protocol import FrameHeader, decode_jpeg, encode_frame, parse_ack
from edge.service.counting import counter_factory
from edge.store.frame_images import flag_frame
from edge.store.store import Store
from edge.tracking.counter import CameraCounter
from vision.frame import Frame
from vision.registry import DEFAULT_MODEL_DIR, ONNX_NAME


@pytest.fixture(scope="module")
def clip_jpegs(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    """A 6 s synthetic conveyor clip at 10 fps, as the JPEGs a capture daemon would send."""
    jpegs = clip_as_jpegs(tmp_path_factory.mktemp("svc_clip"), 6.0, seed=777, density=4.0)
    assert len(jpegs) == 60
    return jpegs


def item_keys(items: list[Any]) -> list[tuple[Any, ...]]:
    return [(i.track_id, i.first_seq, i.last_seq, i.counted_seq, i.produce, i.condition, i.flagged, i.frames)
            for i in items]


def test_service_counts_what_the_offline_pipeline_counts_across_a_restart(
    tmp_path: Path, served_registry: Path, clip_jpegs: list[bytes]
) -> None:
    config = service_config(tmp_path, served_registry)
    camera = config.camera("cam1")
    assert camera is not None
    model = load_model(config.model)
    build = counter_factory(config)
    counter = None
    reference: list[Any] = []
    for seq, jpeg in enumerate(clip_jpegs):
        frame = Frame("cam1", seq, 1_800_000_000.0 + seq / 10, decode_jpeg(jpeg))
        counter = counter or build(camera, model, frame)
        reference += counter.update(frame, model.detector(frame.image)).counted
    assert isinstance(counter, CameraCounter) and counter.model_version == model.version
    assert dict(counter.spoiled_vote) == model.card.spoiled_vote  # the served card's calibration

    def msg(seq: int) -> bytes:
        return encode_frame(FrameHeader("cam1", seq, 1_800_000_000.0 + seq / 10), clip_jpegs[seq])

    half = len(clip_jpegs) // 2
    with running(config) as svc, open_stream(svc, "cam1") as ws:
        for seq in range(half + 1):
            ws.send(msg(seq))  # pipelined, as a daemon's window
        first = [parse_ack(ws.recv(timeout=60)) for _ in range(half + 1)]
    assert [(a.seq, a.status) for a in first] == [(s, "ok") for s in range(half + 1)]
    with running(config) as svc, open_stream(svc, "cam1") as ws:
        again = [send_and_ack(ws, msg(seq)).status for seq in range(len(clip_jpegs))]
    assert again[: half + 1] == ["duplicate"] * (half + 1) and again[half + 1 :] == ["ok"] * (len(again) - half - 1)
    with Store.open(config.store_url) as store:
        stored = store.items(camera_id="cam1")
        flags = store.flags(camera_id="cam1")
        # a flagged item's whole best frame is stored for review when the service still had it (same run)
        frames = {f.id: read(store, flag_frame, f.id) for f in flags if f.item.best_seq is not None and f.item.best_seq > half}
    assert item_keys(stored) == item_keys(reference)
    assert all(f.has_crop for f in flags)
    for flag in flags:
        if flag.id in frames:
            frame = frames[flag.id]
            assert (frame.seq, frame.width, frame.height) == (flag.item.best_seq, 320, 180)
            assert flag.item.track_id in {d.track_id for d in frame.detections}
    print(f"items counted: {len(reference)}, flagged: {len(flags)}, with their frame: {len(frames)}")
    if (DEFAULT_MODEL_DIR / ONNX_NAME).is_file():  # the trained model sees the clip's items; an untrained one may not
        assert len(reference) > 0
