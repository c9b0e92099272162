"""Overload, readiness and restarts against a real uvicorn: the explicit 'retry' answer, /readyz verdicts, and
frames committed before a restart answered 'duplicate' after it."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from service_harness import message, metric_value, open_stream, running, send_and_ack, service_config

from edge.protocol import Ack, parse_ack
from edge.store.store import Store

pytestmark = pytest.mark.slow  # service start-up and shutdown sequences


def resend_until_final(ws, seqs: list[int], camera: str = "cam1", limit: int = 200) -> dict[int, list[Ack]]:  # noqa: ANN001
    """A daemon's resend loop, one frame at a time, oldest unacked first; every ack per seq."""
    acks: dict[int, list[Ack]] = {s: [] for s in seqs}
    todo = list(seqs)
    for _ in range(limit):
        if not todo:
            break
        ack = send_and_ack(ws, message(camera, todo[0]))
        acks[todo[0]].append(ack)
        if ack.final:
            todo.pop(0)
    return acks


def test_overload_answers_retry_and_every_frame_is_processed_once_in_order(tmp_path: Path,
                                                                           served_registry: Path) -> None:
    # One frame of room, and the batcher holds it 200 ms waiting for a second: the next frames find the queue full.
    config = service_config(tmp_path, served_registry,
                            batcher={"max_batch": 2, "max_wait_ms": 200, "queue_limit": 1, "retry_hold_s": 30})
    seqs = list(range(10))
    with running(config) as svc, open_stream(svc, "cam1") as ws:
        for seq in seqs:
            ws.send(message("cam1", seq))
        first = {a.seq: a for a in (parse_ack(ws.recv(timeout=30)) for _ in seqs)}
        retried = [s for s in seqs if first[s].status == "retry"]
        assert first[0].status == "ok"
        assert first[1].status == "retry" and first[1].code == "overloaded"
        # once a frame got 'retry', no later frame of the camera may be processed before it
        assert all(first[s].status == "retry" for s in seqs[1:])
        assert {first[s].code for s in seqs[2:]} <= {"overloaded", "blocked"}
        later = resend_until_final(ws, retried)
        metrics = httpx.get(f"{svc.url}/metrics", timeout=10).text
    assert all(acks[-1].status == "ok" for acks in later.values()), later
    assert metric_value(metrics, "qc_frames_retry_total", camera="cam1", reason="overloaded") >= 1
    assert metric_value(metrics, "qc_frames_processed_total", camera="cam1") == len(seqs)
    with Store.open(config.store_url) as store:
        (tally,) = store.frame_tallies("cam1")
    assert (tally.processed, tally.dropped) == (len(seqs), {})


def test_not_ready_when_the_model_cannot_be_loaded(tmp_path: Path, served_registry: Path) -> None:
    config = service_config(tmp_path, served_registry,
                            model={"registry_root": str(served_registry), "version": "v0099"})
    with running(config, expect_ready=False) as svc:
        assert httpx.get(f"{svc.url}/healthz", timeout=10).status_code == 200
        r = httpx.get(f"{svc.url}/readyz", timeout=10)
        with open_stream(svc, "cam1") as ws:
            ack = send_and_ack(ws, message("cam1", 1))
        metrics = httpx.get(f"{svc.url}/metrics", timeout=10).text
    assert r.status_code == 503
    assert "v0099" in r.json()["checks"]["model"]
    assert (ack.status, ack.code) == ("retry", "not_ready")
    assert metric_value(metrics, "qc_model_loaded") == 0


def test_not_ready_when_the_execution_provider_fell_back(tmp_path: Path, served_registry: Path) -> None:
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime has CUDA: nothing falls back")
    config = service_config(tmp_path, served_registry, model={
        "registry_root": str(served_registry), "providers": ["CUDAExecutionProvider", "CPUExecutionProvider"]})
    with running(config, expect_ready=False) as svc:
        r = httpx.get(f"{svc.url}/readyz", timeout=10)
        metrics = httpx.get(f"{svc.url}/metrics", timeout=10).text
    assert r.status_code == 503
    assert r.json()["checks"]["provider"] == "fell back to CPUExecutionProvider (asked for CUDAExecutionProvider)"
    assert metric_value(metrics, "qc_execution_provider_fell_back") == 1
    assert metric_value(metrics, "qc_execution_provider", provider="CPUExecutionProvider",
                        requested="CUDAExecutionProvider") == 1


def test_after_a_restart_committed_frames_are_duplicates_and_the_stream_resumes(
    tmp_path: Path, served_registry: Path, store_url: str
) -> None:
    config = service_config(tmp_path, served_registry, store={"url": store_url})
    with running(config) as svc, open_stream(svc, "cam1") as ws:
        assert [send_and_ack(ws, message("cam1", s)).status for s in range(6)] == ["ok"] * 6
    with Store.open(config.store_url) as store:
        checkpoint = store.load_checkpoint("cam1")
    assert checkpoint is not None
    with running(config) as svc, open_stream(svc, "cam1") as ws:
        resent = [send_and_ack(ws, message("cam1", s)).status for s in range(6)]
        new = [send_and_ack(ws, message("cam1", s)).status for s in range(6, 9)]
        stale = send_and_ack(ws, message("cam1", 3, b""))  # a bad resend of a committed frame changes nothing
    assert resent == ["duplicate"] * 6
    assert new == ["ok"] * 3
    assert stale.status == "duplicate"
    with Store.open(config.store_url) as store:
        (tally,) = store.frame_tallies("cam1")
        assert store.last_seq("cam1") == 8
    assert (tally.processed, tally.dropped) == (9, {})
