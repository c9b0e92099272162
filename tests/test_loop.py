"""The whole retraining loop at toy scale, with real parts end to end:

reviews in a store -> `qc dataset from-reviews` -> `qc retrain` (1 epoch, imgsz 64) -> promotion gate -> candidate
-> `qc registry promote --stage shadow` -> production -> `qc registry rollback`, while a real edge service follows
the registry (``rollout.watch_s``); every stage is checked in the registry and in the service (``GET /model``, and
which version detected each frame).

The production model is a registered untrained YOLO11n (ONNX at imgsz 64 + its weights), so the candidate is
fine-tuned from a like-for-like parent; the gate runs for real but with generous tolerances (1.0, passed on the
command line), because two toy models differ by noise. The golden-frame gate is skipped (``--skip-golden``, and
the history records it): a barely trained model scores no box at its confidence threshold, so there is nothing to
compare; `tests/training/test_golden*.py` cover that gate.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import cv2
import httpx
import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parent / "edge" / "service"))  # the service tests' harness

from service_harness import (  # noqa: E402
    message, metric_value, open_stream, running, send_and_ack, service_config, wait_for,
)

from edge.store import FrameDetection, Store  # noqa: E402
from edge.store.review_queue import query_queue  # noqa: E402
from edge.store.review_repo import apply_review  # noqa: E402
from edge.tracking.item import Item  # noqa: E402
from tests.edge.store.store_tx import read, write  # noqa: E402
from tests.training.testing_models import register_untrained_production  # noqa: E402
from training.synth.frames import generate_frames, render_frame  # noqa: E402
from vision.cli import build_app  # noqa: E402
from vision.registry import Registry  # noqa: E402
from vision.taxonomy import Taxonomy  # noqa: E402

pytestmark = pytest.mark.slow

T0 = 1_764_150_000.0
W, H = 160, 120
REVIEW_SEED = 4242



def reviewed_store(url: str, taxonomy: Taxonomy, frames: int = 10) -> int:
    """A store as the service leaves it after ops reviewed the flags: synthetic conveyor frames stored whole, their
    items counted (spoiled ones flagged), and every flag decided. Returns the number of reviews."""
    reviews = 0
    with Store.open(url) as store:
        track = 0
        for k in range(frames):
            image, labels = render_frame(k, REVIEW_SEED, W, H, taxonomy, 0.6)
            seq = 10 * k + 10
            items, dets = [], []
            for cls, box in labels:
                track += 1
                produce, condition = taxonomy.split_class(cls)
                flagged = condition != "fresh"
                items.append(Item(
                    camera_id="cam1", track_id=track, first_seq=seq - 2, last_seq=seq + 2,
                    first_seen_at=T0 + seq / 10, last_seen_at=T0 + seq / 10 + 0.4, counted_seq=seq + 2,
                    produce=produce, condition=condition, freshness=0.2 if flagged else 0.95, flagged=flagged,
                    votes={produce: 5}, frames=5, best_box=box, best_seq=seq, model_version="v0001",
                    best_crop_jpeg=b"\xff\xd8crop\xff\xd9" if flagged else None,
                ))
                dets.append(FrameDetection(box=box, produce=produce, condition=condition, confidence=0.8,
                                           track_id=track))
            store.save_frame_image("cam1", seq, cv2.imencode(".jpg", image)[1].tobytes(), W, H, dets)
            store.commit_frame("cam1", seq + 2, T0 + seq / 10, T0 + seq / 10, "v0001", len(dets), items, None)
        for i, entry in enumerate(read(store, query_queue, status="pending", limit=500)):
            # Most flags are confirmed; every fourth is overruled (the item becomes fresh in the data set).
            write(store, apply_review, entry.flag_id, "not_waste" if i % 4 == 3 else "confirm_waste", "ops")
            reviews += 1
    return reviews


def qc(*args: str) -> tuple[int, str, str]:
    """Run one `qc` command in-process; (exit code, stdout, stderr)."""
    result = CliRunner().invoke(build_app(), list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def model_status(url: str) -> dict[str, Any]:
    return httpx.get(f"{url}/model", timeout=10).json()


def stream(svc: Any, seqs: range) -> None:
    """Send frames of cam1 and require an ok ack for each."""
    with open_stream(svc, "cam1") as ws:
        for seq in seqs:
            assert send_and_ack(ws, message("cam1", seq)).status == "ok"


def test_reviews_to_retrain_to_gate_to_shadow_to_promote_to_rollback(tmp_path: Path, taxonomy: Taxonomy) -> None:
    # -- reviews -> data set ----------------------------------------------------------------------------------
    db = f"sqlite:///{tmp_path / 'belt.db'}"
    assert reviewed_store(db, taxonomy) >= 5
    code, out, err = qc("dataset", "from-reviews", "--out", str(tmp_path / "reviews"), "--db", db)
    assert code == 0, err
    from_reviews = json.loads(out)
    assert sum(from_reviews["frames"].values()) >= 5 and len(from_reviews["content_hash"]) == 64

    # -- a registry with a production model, base data and a frozen hold-out ----------------------------------
    registry_root = tmp_path / "registry"
    registry = Registry.open(registry_root, seed_from=None)
    production = register_untrained_production(registry, taxonomy, tmp_path / "work", imgsz=64)
    assert production.version == "v0001"
    small = {"taxonomy": taxonomy, "width": 128, "height": 96, "test_share": 0.0}
    generate_frames(tmp_path / "base", 8, seed=21, val_share=0.25, **small)
    generate_frames(tmp_path / "holdout", 4, seed=22, val_share=1.0, **small)

    # -- retrain -> gate -> candidate -------------------------------------------------------------------------
    code, out, err = qc(
        "retrain", "--base", str(tmp_path / "base"), "--reviews", str(tmp_path / "reviews"),
        "--holdout", str(tmp_path / "holdout"), "--registry", str(registry_root), "--out", str(tmp_path / "run"),
        "--epochs", "1", "--imgsz", "64", "--batch", "4", "--workers", "0", "--no-cache", "--review-holdout", "0.3",
        "--parity-frames", "4", "--parity-conf", "0.0001", "--tol-map50", "1", "--tol-flag-precision", "1",
        "--tol-flag-recall", "1", "--mlflow-uri", f"file:{tmp_path / 'mlruns'}",
    )
    assert code == 0, err
    report = json.loads((tmp_path / "run" / "retrain_report.json").read_text())
    assert report["passed"] and {c["metric"] for c in report["gate"]["checks"]} == {
        "map50", "flag_precision", "flag_recall"}
    assert report["dataset"]["sources"]["reviews"]["train"] + report["dataset"]["sources"]["reviews"]["val"] + \
        report["dataset"]["sources"]["reviews"]["held_back"] == sum(from_reviews["frames"].values())
    candidate = registry.get(report["candidate"]["version"])
    assert (candidate.version, candidate.stage, candidate.parent_version) == ("v0002", "candidate", "v0001")
    assert candidate.metrics["gate"]["passed"] and candidate.dataset is not None
    assert candidate.dataset.hash == report["dataset"]["hash"]

    # -- a service following the registry ---------------------------------------------------------------------
    config = service_config(tmp_path / "svc", registry_root, counting={"idle_flush_s": 0}, rollout={"watch_s": 0.2})
    with running(config) as svc:
        status = model_status(svc.url)
        assert status["production"]["version"] == "v0001" and status["shadow"] is None  # a candidate does not serve
        assert status["canary"] is None and status["refused"] == []
        swaps = status["swaps"]

        # -- shadow: the candidate scores the same frames, apart ------------------------------------------------
        code, out, err = qc("registry", "promote", "v0002", "--stage", "shadow", "--registry", str(registry_root),
                            "--reason", "loop test: shadow", "--skip-golden")
        assert code == 0, err
        assert registry.get("v0002").stage == "shadow"
        status = wait_for(lambda: (s := model_status(svc.url))["shadow"] and s)
        assert status["shadow"]["version"] == "v0002" and status["production"]["version"] == "v0001"
        stream(svc, range(0, 4))

        def shadow_done() -> bool:
            text = httpx.get(f"{svc.url}/metrics", timeout=10).text
            scored = metric_value(text, "qc_shadow_frames_total", version="v0002") or 0.0
            skipped = metric_value(text, "qc_shadow_skipped_total", version="v0002") or 0.0
            return scored + skipped == 4

        wait_for(shadow_done)

        # -- promote: the candidate serves ------------------------------------------------------------------------
        code, out, err = qc("registry", "promote", "v0002", "--registry", str(registry_root),
                            "--reason", "loop test: promote", "--skip-golden")
        assert code == 0, err
        assert json.loads(out) == {"version": "v0002", "stage": "production", "archived": ["v0001"]}
        # The follower swaps role by role (production first, then the shadow goes): wait for the whole new state.
        status = wait_for(lambda: (s := model_status(svc.url))["production"]["version"] == "v0002"
                          and s["shadow"] is None and s)
        assert status["swaps"] > swaps and status["refused"] == []
        stream(svc, range(4, 7))

        # -- rollback: one command back to the previous production ---------------------------------------------
        code, out, err = qc("registry", "rollback", "--registry", str(registry_root), "--reason", "loop test",
                            "--skip-golden")
        assert code == 0, err
        assert json.loads(out) == {"version": "v0001", "rolled_back": "v0002"}
        status = wait_for(lambda: (s := model_status(svc.url))["production"]["version"] == "v0001"
                          and s["shadow"] is None and s)
        assert status["refused"] == [] and status["canary"] is None
        stream(svc, range(7, 10))

    # -- the registry's record ----------------------------------------------------------------------------------
    v1, v2 = registry.get("v0001"), registry.get("v0002")
    assert (v1.stage, v2.stage) == ("production", "archived")
    assert [h.stage for h in v2.history] == ["candidate", "shadow", "production", "archived"]
    assert "golden-frame gate skipped" in v2.history[1].reason and v2.history[-1].rollback
    assert v1.history[-1].stage == "production" and v1.history[-1].rollback

    # -- which model detected each frame, and the shadow's results kept apart --------------------------------
    with Store.open(config.store_url) as store:
        versions = store.frame_versions("cam1")
        shadow = store.shadow_frames(model_version="v0002")
    assert versions == {**{s: "v0001" for s in range(0, 4)}, **{s: "v0002" for s in range(4, 7)},
                        **{s: "v0001" for s in range(7, 10)}}
    assert shadow and {f.production_version for f in shadow} == {"v0001"}
    assert {f.seq for f in shadow} <= set(range(0, 4))
