"""A swap under load: while a camera streams a clip, production is promoted to another version and rolled back.

The service follows the registry (rollout.watch_s = 0.2). SHIPPED is the shipped model, AGAIN the same graph
registered again, so the items counted must be exactly those of one offline run over the clip with no swap at all:
any item counted twice (a counter reset by the swap), missed, or any frame lost or processed twice shows up. The
frames' model_version shows both versions, in one run each: SHIPPED, then AGAIN, then SHIPPED again.
"""

from __future__ import annotations

import threading
import time
from itertools import groupby
from pathlib import Path
from typing import Any

import httpx
import pytest
from service_harness import clip_as_jpegs, open_stream, running, service_config, wait_for

from edge.models.serving import load_model
from edge.protocol import Ack, FrameHeader, decode_jpeg, encode_frame, parse_ack
from edge.service.counting import counter_factory
from edge.store.store import Store
from tests.shipped import SHIPPED_VERSION as SHIPPED
from tests.shipped import after_shipped
from vision.frame import Frame
from vision.registry import DEFAULT_MODEL_DIR, ONNX_NAME, Registry

pytestmark = pytest.mark.slow  # hot swap under a streaming load

WINDOW = 4  # frames in flight, as a capture daemon's window
PROMOTE_AT, ROLLBACK_AT = 12, 62  # acks before each registry change
AGAIN = after_shipped(1)  # the shipped graph registered a second time
GATES = (45, 85)  # the stream waits here until the service serves AGAIN, then SHIPPED again


def item_keys(items: list[Any]) -> list[tuple[Any, ...]]:
    return [(i.track_id, i.first_seq, i.last_seq, i.counted_seq, i.produce, i.condition, i.flagged, i.frames)
            for i in items]


@pytest.mark.skipif(not (DEFAULT_MODEL_DIR / ONNX_NAME).is_file(), reason="needs the shipped model")
def test_promote_and_roll_back_while_a_camera_streams_lose_and_double_count_nothing(tmp_path: Path) -> None:
    jpegs = clip_as_jpegs(tmp_path / "clip", 10.0, seed=4242, density=3.0)
    n = len(jpegs)
    assert n == 100
    root = tmp_path / "registry"
    registry = Registry.open(root)  # seeded: the shipped model, production
    shipped = registry.production()
    again = registry.register(registry.path_of(shipped), shipped.draft(), grader=registry.grader_path(shipped),
                              reason="test: the same graph again")
    assert (shipped.version, again.version) == (SHIPPED, AGAIN)
    config = service_config(tmp_path / "svc", root, rollout={"watch_s": 0.2}, counting={"idle_flush_s": 0})

    camera = config.camera("cam1")
    assert camera is not None
    model = load_model(config.model)
    counter = counter_factory(config)(camera, model, Frame("cam1", 0, 0.0, decode_jpeg(jpegs[0])))
    reference: list[Any] = []
    for seq, jpeg in enumerate(jpegs):
        frame = Frame("cam1", seq, 1_800_000_000.0 + seq / 10, decode_jpeg(jpeg))
        reference += counter.update(frame, model.detector(frame.image)).counted

    acks: list[Ack] = []
    errors: list[BaseException] = []
    gates = {seq: threading.Event() for seq in GATES}

    def stream(svc_url: Any) -> None:
        try:
            with open_stream(svc_url, "cam1") as ws:
                seq = inflight = 0
                while seq < n or inflight:
                    gate = gates.get(seq)
                    if seq < n and inflight < WINDOW and (
                        gate is None or gate.is_set() or (inflight == 0 and gate.wait(120))
                    ):
                        ws.send(encode_frame(FrameHeader("cam1", seq, 1_800_000_000.0 + seq / 10), jpegs[seq]))
                        seq, inflight = seq + 1, inflight + 1
                        time.sleep(0.02)
                        continue
                    acks.append(parse_ack(ws.recv(timeout=60)))
                    inflight -= 1
        except BaseException as exc:  # surfaced by the assertion on `errors`
            errors.append(exc)

    def production(svc_url: str) -> str | None:
        body = httpx.get(f"{svc_url}/model", timeout=10).json()
        return body["production"]["version"] if body["production"] else None

    with running(config) as svc:
        streamer = threading.Thread(target=stream, args=(svc,), daemon=True)
        streamer.start()
        wait_for(lambda: len(acks) >= PROMOTE_AT or errors, timeout=90)
        Registry.open(root).set_stage(AGAIN, "production", reason="test: promote under load")
        wait_for(lambda: production(svc.url) == AGAIN or errors, timeout=90)
        gates[GATES[0]].set()
        wait_for(lambda: len(acks) >= ROLLBACK_AT or errors, timeout=90)
        assert Registry.open(root).rollback(reason="test: roll back under load").version == SHIPPED
        wait_for(lambda: production(svc.url) == SHIPPED or errors, timeout=90)
        gates[GATES[1]].set()
        streamer.join(timeout=180)
        status = httpx.get(f"{svc.url}/model", timeout=10).json()
    assert errors == [] and not streamer.is_alive()

    assert sorted((a.seq, a.status) for a in acks) == [(s, "ok") for s in range(n)]
    assert status["swaps"] == 2 and status["refused"] == []
    with Store.open(config.store_url) as store:
        tallies = store.frame_tallies("cam1")
        versions = store.frame_versions("cam1")
        stored = store.items(camera_id="cam1")
    # frames lost = 0, none processed twice
    assert len(tallies) == 1 and tallies[0].processed == n and tallies[0].dropped == {}
    assert sorted(versions) == list(range(n))
    # both versions detected frames, in three runs: a batch is detected by one snapshot, frames in order
    runs = [v for v, _ in groupby(versions[s] for s in range(n))]
    assert runs == [SHIPPED, AGAIN, SHIPPED], runs
    assert versions[GATES[0]] == AGAIN and versions[GATES[1]] == SHIPPED
    # items counted twice = 0 (and none missed): exactly the items of the run without a swap
    assert item_keys(stored) == item_keys(reference)
    assert len({i.track_id for i in stored}) == len(stored)
    assert len(reference) > 0
    print(f"items: {len(stored)}; frames by version: "
          f"{ {v: sum(1 for x in versions.values() if x == v) for v in set(versions.values())} }")
