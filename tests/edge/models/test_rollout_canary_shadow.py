"""Canary cameras are served by the canary version; a shadow version scores the same frames apart, with agreement.

Registry: production v0001 and shadow v0003 answer the same box on every frame; canary v0002 answers another box.
The service (cam2 a canary camera) must detect cam1 with v0001 and cam2 with v0002, in batches that mix both
cameras; the shadow's results go to shadow_frames, never to frames or items: agreement 1.0 against v0001 on cam1,
0.0 against v0002 on cam2. When the registry drops the canary and the shadow, the service goes back to production
alone.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from rollout_models import constant_detector_onnx, draft_for
from service_harness import message, metric_value, open_stream, running, service_config, wait_for

from edge.protocol import parse_ack
from edge.store.store import Store
from vision.registry import Registry
from vision.taxonomy import Taxonomy



@pytest.fixture
def registry_root(tmp_path: Path, taxonomy: Taxonomy) -> Path:
    root = tmp_path / "registry"
    registry = Registry.open(root, seed_from=None)
    nc = taxonomy.num_classes
    same = constant_detector_onnx(tmp_path / "a.onnx", nc=nc, box=(160.0, 120.0, 48.0, 48.0), class_id=4)
    other = constant_detector_onnx(tmp_path / "b.onnx", nc=nc, box=(60.0, 200.0, 30.0, 30.0), class_id=4)
    assert registry.register(same, draft_for(taxonomy), stage="production").version == "v0001"
    assert registry.register(other, draft_for(taxonomy), stage="canary").version == "v0002"
    assert registry.register(same, draft_for(taxonomy), stage="shadow").version == "v0003"
    return root


def test_canary_camera_gets_the_canary_and_the_shadow_scores_every_frame_apart(
    tmp_path: Path, registry_root: Path
) -> None:
    config = service_config(tmp_path, registry_root, counting={"idle_flush_s": 0},
                            rollout={"watch_s": 0.2, "canary_cameras": ["cam2"]},
                            batcher={"max_batch": 8, "max_wait_ms": 20, "queue_limit": 64})
    seqs = range(20)
    with running(config) as svc:
        status = wait_for(lambda: (s := httpx.get(f"{svc.url}/model", timeout=10).json())["shadow"] and s)
        assert status["production"]["version"] == "v0001"
        assert status["canary"] == {"version": "v0002", "provider": "CPUExecutionProvider", "cameras": ["cam2"]}
        assert status["shadow"]["version"] == "v0003" and status["refused"] == []
        with open_stream(svc, "cam1") as ws1, open_stream(svc, "cam2") as ws2:
            for seq in seqs:  # pipelined and interleaved: batches hold frames of both cameras
                ws1.send(message("cam1", seq))
                ws2.send(message("cam2", seq))
            acks = [parse_ack(ws.recv(timeout=60)) for ws in (ws1, ws2) for _ in seqs]
        assert all(a.status == "ok" for a in acks)

        def shadow_done() -> bool:  # every frame is stored or was skipped (the shadow never holds production up)
            text = httpx.get(f"{svc.url}/metrics", timeout=10).text
            scored = metric_value(text, "qc_shadow_frames_total", version="v0003") or 0.0
            skipped = metric_value(text, "qc_shadow_skipped_total", version="v0003") or 0.0
            return scored + skipped == 2 * len(seqs)

        wait_for(shadow_done)
        text = httpx.get(f"{svc.url}/metrics", timeout=10).text
        assert metric_value(text, "qc_shadow_errors_total", version="v0003") in (None, 0.0)
        batches = metric_value(text, "qc_batch_size_count") or 0.0
        assert batches < 2 * len(seqs)  # some batches held more than one frame

        registry = Registry.open(registry_root, seed_from=None)
        registry.set_stage("v0002", "archived", reason="test: canary over")
        registry.set_stage("v0003", "archived", reason="test: shadow over")
        status = wait_for(lambda: (s := httpx.get(f"{svc.url}/model", timeout=10).json())["canary"] is None
                          and s["shadow"] is None and s)
        assert status["production"]["version"] == "v0001" and status["swaps"] == 4  # 2 in, 2 out
        with open_stream(svc, "cam2") as ws:
            ws.send(message("cam2", 100))
            assert parse_ack(ws.recv(timeout=60)).status == "ok"

    with Store.open(config.store_url) as store:
        cam1, cam2 = store.frame_versions("cam1"), store.frame_versions("cam2")
        shadow = store.shadow_frames(model_version="v0003")
        items = store.items()
    assert cam1 == {s: "v0001" for s in seqs}
    assert cam2 == {**{s: "v0002" for s in seqs}, 100: "v0001"}
    assert shadow, "the shadow stored nothing"
    assert len({(f.camera_id, f.seq) for f in shadow}) == len(shadow)
    for f in shadow:
        assert f.n_detections == 1 and f.n_production == 1
        if f.camera_id == "cam1":  # same box as production
            assert (f.production_version, f.matched, f.agreement) == ("v0001", 1, 1.0)
        else:  # the canary's box is elsewhere
            assert (f.production_version, f.matched, f.agreement) == ("v0002", 0, 0.0)
        assert f.detections[0].produce == "banana" and f.detections[0].condition == "fresh"
    assert {f.camera_id for f in shadow} == {"cam1", "cam2"}
    assert all(i.model_version != "v0003" for i in items)  # shadow results never become items


def test_a_shadow_that_fails_on_real_frames_never_costs_production_a_frame(tmp_path: Path, taxonomy: Taxonomy) -> None:
    root = tmp_path / "registry"
    registry = Registry.open(root, seed_from=None)
    nc = taxonomy.num_classes
    registry.register(constant_detector_onnx(tmp_path / "a.onnx", nc=nc), draft_for(taxonomy), stage="production")
    # 100 anchors fit the 320 x 320 warm-up frame only: it passes the warm-up, then fails on every 320 x 240 frame
    fragile = constant_detector_onnx(tmp_path / "fragile.onnx", nc=nc, anchors=100)
    assert registry.register(fragile, draft_for(taxonomy), stage="shadow").version == "v0002"
    config = service_config(tmp_path / "svc", root, counting={"idle_flush_s": 0}, rollout={"watch_s": 0.2})
    with running(config) as svc:
        wait_for(lambda: httpx.get(f"{svc.url}/model", timeout=10).json()["shadow"])
        with open_stream(svc, "cam1") as ws:
            for seq in range(6):
                ws.send(message("cam1", seq))
                assert parse_ack(ws.recv(timeout=60)).status == "ok"
        wait_for(lambda: (metric_value(httpx.get(f"{svc.url}/metrics", timeout=10).text, "qc_shadow_errors_total",
                                       version="v0002") or 0) >= 1)
        assert httpx.get(f"{svc.url}/readyz", timeout=10).status_code == 200
    with Store.open(config.store_url) as store:
        assert store.frame_versions("cam1") == {s: "v0001" for s in range(6)}
        assert store.shadow_frames() == []
