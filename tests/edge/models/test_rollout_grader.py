"""A version's grader loads, verifies and swaps with its detector: a hot swap brings the new version's grader, and a
version whose grader does not match its card is refused whole while the current version (and grader) serve on.

One real service (uvicorn, rollout.watch_s = 0.2) follows a real registry; the detectors are tiny constant graphs,
the grader the colour classifier of `tests.training.testing_models`."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
from rollout_models import constant_detector_onnx, draft_for, write_version_by_hand
from service_harness import message, open_stream, running, send_and_ack, service_config, wait_for

from edge.models.candidate import prepare
from edge.store.store import Store
from edge.tracking.views import GRADE_VIEWS
from tests.training.testing_models import colour_grader_onnx, colour_grader_spec
from vision.registry import GRADER_NAME, Registry
from vision.taxonomy import Taxonomy


def test_prepare_loads_and_warms_up_the_versions_grader(tmp_path: Path, taxonomy: Taxonomy) -> None:
    detector = constant_detector_onnx(tmp_path / "a.onnx", nc=taxonomy.num_classes)
    grader = colour_grader_onnx(tmp_path / "grader_src.onnx")
    registry = Registry.open(tmp_path / "registry", seed_from=None)
    plain = registry.register(detector, draft_for(taxonomy), stage="production")
    graded = registry.register(detector, draft_for(taxonomy, grader=colour_grader_spec(grader)), grader=grader)
    section = service_config(tmp_path, tmp_path / "registry").model

    model = prepare(section, graded.version, plain)
    assert model.grader is not None and model.grader.spec == graded.grader
    assert model.grader.model_path.parent == (tmp_path / "registry" / "versions" / graded.version)
    probs = model.grader.grade_crops(np.zeros((GRADE_VIEWS, 64, 64, 3), np.uint8))
    assert probs.shape == (GRADE_VIEWS, 4)
    assert prepare(section, plain.version, plain).grader is None


def test_a_hot_swap_brings_the_new_versions_grader_and_a_bad_grader_refuses_its_version(
    tmp_path: Path, taxonomy: Taxonomy
) -> None:
    root = tmp_path / "registry"
    detector = constant_detector_onnx(tmp_path / "a.onnx", nc=taxonomy.num_classes)
    grader = colour_grader_onnx(tmp_path / "grader_src.onnx")
    registry = Registry.open(root, seed_from=None)
    registry.register(detector, draft_for(taxonomy), stage="production")
    config = service_config(tmp_path / "svc", root, rollout={"watch_s": 0.2}, counting={"idle_flush_s": 0})
    with running(config) as svc:
        def status() -> dict:
            return httpx.get(f"{svc.url}/model", timeout=10).json()

        assert status()["production"] == {"version": "v0001", "provider": "CPUExecutionProvider"}
        graded = registry.register(detector, draft_for(taxonomy, grader=colour_grader_spec(grader)), grader=grader,
                                   stage="production")
        now = wait_for(lambda: (s := status())["production"]["version"] == graded.version and s)
        assert now["production"]["grader"] == {"sha256": graded.grader.sha256, "provider": "CPUExecutionProvider"}

        # A version whose grader is not the one its card names (a bad sync): refused whole, v0002 serves on.
        other = colour_grader_onnx(tmp_path / "other.onnx", bias=np.array([4.0, 10.0, 0.0, 8.0]))
        bad = write_version_by_hand(root, "v0003", detector.read_bytes(),
                                    draft_for(taxonomy, grader=colour_grader_spec(grader)),
                                    extra_files={GRADER_NAME: other.read_bytes()})
        refusal = wait_for(lambda: next((r for r in status()["refused"] if r["version"] == bad.version), None))
        assert "grader sha256" in refusal["reason"] and "v0003" in refusal["reason"]
        assert status()["production"]["version"] == graded.version
        assert status()["production"]["grader"]["sha256"] == graded.grader.sha256

        with open_stream(svc, "cam1") as ws:
            acks = [send_and_ack(ws, message("cam1", seq)) for seq in range(3)]
        assert [a.status for a in acks] == ["ok"] * 3
    with Store.open(config.store_url) as store:
        assert set(store.frame_versions("cam1").values()) == {graded.version}
