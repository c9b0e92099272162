"""Bad models set to production in the registry are refused while the current model keeps serving.

One real service (uvicorn, rollout.watch_s = 0.2) follows a real registry whose production is a tiny constant
detector (v0001). Each test puts a bad version in production, the way a careless tool or a bad sync could: a
corrupt ONNX file, a card that does not match its graph, a graph whose external data lies outside its folder (these
three written into the registry folder by hand, since `Registry.register` refuses them too), a model that loads but
fails its warm-up inference, and a model of another taxonomy. Each is refused: GET /model lists it with the reason,
``qc_model_refusals_total{version}`` counts it once (not retried while the registry stays the same), and frames are
still acked ok and committed with v0001. Last, a good version is swapped in (the control).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from rollout_models import constant_detector_onnx, draft_for, write_version_by_hand
from service_harness import (
    RunningService, message, metric_value, open_stream, running, send_and_ack, service_config, wait_for,
)

from edge.store.store import Store
from vision.registry import Registry
from vision.taxonomy import Taxonomy

pytestmark = pytest.mark.slow  # a running service refusing bad versions


@pytest.fixture(scope="module")
def registry_root(tmp_path_factory: pytest.TempPathFactory, taxonomy: Taxonomy) -> Path:
    root = tmp_path_factory.mktemp("refusals_registry")
    onnx = constant_detector_onnx(tmp_path_factory.mktemp("m") / "a.onnx", nc=taxonomy.num_classes)
    Registry.open(root, seed_from=None).register(onnx, draft_for(taxonomy), stage="production")
    return root


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory, registry_root: Path) -> Iterator[RunningService]:
    config = service_config(tmp_path_factory.mktemp("refusals_svc"), registry_root,
                            rollout={"watch_s": 0.2}, counting={"idle_flush_s": 0})
    with running(config) as service:
        yield service


def model_status(svc: RunningService) -> dict[str, Any]:
    return httpx.get(f"{svc.url}/model", timeout=10).json()


def registry_checks(svc: RunningService) -> float:
    """Looks at the registry the service has finished (``qc_registry_checks_total``)."""
    return metric_value(httpx.get(f"{svc.url}/metrics", timeout=10).text, "qc_registry_checks_total") or 0.0


def wait_for_looks(svc: RunningService, looks: int) -> None:
    """Until the service has looked at the registry ``looks`` more times: what it did not do by then, it did not do
    on an unchanged registry."""
    done = registry_checks(svc)
    wait_for(lambda: registry_checks(svc) >= done + looks)


def next_version(root: Path) -> str:
    return f"v{len(Registry.open(root, seed_from=None).list()) + 1:04d}"


def corrupt_onnx(root: Path, tmp: Path, taxonomy: Taxonomy) -> str:
    good = (root / "versions" / "v0001" / "model.onnx").read_bytes()
    version = next_version(root)
    write_version_by_hand(root, version, good[: len(good) // 2], draft_for(taxonomy))  # truncated; sha256 matches
    return version


def card_not_matching_graph(root: Path, tmp: Path, taxonomy: Taxonomy) -> str:
    onnx = constant_detector_onnx(tmp / "ten_classes.onnx", nc=10)  # the card says 16 classes
    version = next_version(root)
    write_version_by_hand(root, version, onnx.read_bytes(), draft_for(taxonomy))
    return version


def external_data_outside_its_folder(root: Path, tmp: Path, taxonomy: Taxonomy) -> str:
    (tmp / "x").mkdir()
    onnx = constant_detector_onnx(tmp / "x" / "model.onnx", nc=taxonomy.num_classes, external_data="../bias.bin")
    version = next_version(root)
    # The bytes it names exist, one level up in the registry's versions folder: loading it would read them.
    (root / "versions" / "bias.bin").write_bytes((tmp / "bias.bin").read_bytes())
    write_version_by_hand(root, version, onnx.read_bytes(), draft_for(taxonomy))
    return version


def fails_its_warm_up(root: Path, tmp: Path, taxonomy: Taxonomy) -> str:
    onnx = constant_detector_onnx(tmp / "fixed.onnx", nc=taxonomy.num_classes, anchors=7)  # runs on no real input
    registry = Registry.open(root, seed_from=None)
    card = registry.register(onnx, draft_for(taxonomy))  # it loads and matches its card: registering accepts it
    registry.set_stage(card.version, "production", reason="test: a model that cannot run")
    return card.version


def other_taxonomy(root: Path, tmp: Path, taxonomy: Taxonomy) -> str:
    fewer = Taxonomy.from_dict({**taxonomy.to_dict(), "produce": list(taxonomy.produce[:-1])})
    onnx = constant_detector_onnx(tmp / "fewer.onnx", nc=fewer.num_classes)
    registry = Registry.open(root, seed_from=None)
    card = registry.register(onnx, draft_for(fewer))
    registry.set_stage(card.version, "production", reason="test: another taxonomy")
    return card.version

BAD = {
    "corrupt_onnx": (corrupt_onnx, ("ONNX",)),
    "card_not_matching_graph": (card_not_matching_graph, ("does not match card", "classes")),
    "external_data_outside": (external_data_outside_its_folder, ("external data", "outside")),
    "fails_warm_up": (fails_its_warm_up, ("warm-up",)),
    "other_taxonomy": (other_taxonomy, ("restart the service to change the taxonomy",)),
}

_next_seq = iter(range(0, 10**6, 10))


def stream_some(svc: RunningService, n: int = 4) -> list[int]:
    """Send ``n`` frames on cam1; every one must be acked ok."""
    start = next(_next_seq)
    seqs = list(range(start, start + n))
    with open_stream(svc, "cam1") as ws:
        acks = [send_and_ack(ws, message("cam1", seq)) for seq in seqs]
    assert [(a.seq, a.status) for a in acks] == [(s, "ok") for s in seqs]
    return seqs


@pytest.mark.parametrize("kind", list(BAD))
def test_a_bad_model_set_to_production_is_refused_while_the_current_one_keeps_serving(
    svc: RunningService, registry_root: Path, tmp_path: Path, taxonomy: Taxonomy, kind: str
) -> None:
    make, words = BAD[kind]
    stream_some(svc)
    version = make(registry_root, tmp_path, taxonomy)
    assert Registry.open(registry_root, seed_from=None).get(version).stage == "production"

    refusal = wait_for(lambda: next((r for r in model_status(svc)["refused"] if r["version"] == version), None))
    assert refusal["role"] == "production"
    assert version in refusal["reason"]
    for word in words:
        assert word in refusal["reason"], refusal["reason"]
    status = model_status(svc)
    assert status["production"] == {"version": "v0001", "provider": "CPUExecutionProvider"}
    seqs = stream_some(svc)  # the current model keeps serving
    with Store.open(svc.config.store_url) as store:
        versions = store.frame_versions("cam1")
    assert [versions[s] for s in seqs] == ["v0001"] * len(seqs)
    wait_for_looks(svc, 5)  # five looks at an unchanged registry: the refused version is not tried again
    exposition = httpx.get(f"{svc.url}/metrics", timeout=10).text
    assert metric_value(exposition, "qc_model_refusals_total", version=version) == 1.0
    assert [r["version"] for r in model_status(svc)["refused"]].count(version) == 1
    assert model_status(svc)["swaps"] == 0


def test_an_unreadable_registry_keeps_the_current_model_serving(svc: RunningService, registry_root: Path) -> None:
    def errors() -> float:
        text = httpx.get(f"{svc.url}/metrics", timeout=10).text
        return metric_value(text, "qc_registry_read_errors_total") or 0.0

    before = errors()
    broken = registry_root / "versions" / "v0999"
    broken.mkdir()
    (broken / "card.json").write_text("{ not json")
    try:
        wait_for(lambda: errors() >= before + 2)  # counted at every look, and the service goes on
        stream_some(svc)
        assert model_status(svc)["production"]["version"] == "v0001"
    finally:
        (broken / "card.json").unlink()
        broken.rmdir()


def test_a_refused_version_is_tried_again_once_the_registry_changes_again(
    svc: RunningService, registry_root: Path, tmp_path: Path, taxonomy: Taxonomy
) -> None:
    def refusals(version: str) -> float:
        text = httpx.get(f"{svc.url}/metrics", timeout=10).text
        return metric_value(text, "qc_model_refusals_total", version=version) or 0.0

    version = fails_its_warm_up(registry_root, tmp_path, taxonomy)
    wait_for(lambda: refusals(version) == 1.0)
    registry = Registry.open(registry_root, seed_from=None)
    registry.set_stage("v0001", "production", reason="test: back to what serves")
    wait_for_looks(svc, 5)  # the registry now names what serves: nothing to load, nothing refused
    assert refusals(version) == 1.0
    registry.set_stage(version, "production", reason="test: try it again")
    wait_for(lambda: refusals(version) == 2.0)
    status = model_status(svc)
    assert status["production"]["version"] == "v0001" and status["swaps"] == 0
    stream_some(svc)


def test_a_good_model_set_to_production_is_swapped_in(
    svc: RunningService, registry_root: Path, tmp_path: Path, taxonomy: Taxonomy
) -> None:
    onnx = constant_detector_onnx(tmp_path / "good.onnx", nc=taxonomy.num_classes, box=(100.0, 60.0, 40.0, 40.0))
    registry = Registry.open(registry_root, seed_from=None)
    card = registry.register(onnx, draft_for(taxonomy))
    registry.set_stage(card.version, "production", reason="test: the control")
    wait_for(lambda: model_status(svc)["production"]["version"] == card.version)
    seqs = stream_some(svc)
    with Store.open(svc.config.store_url) as store:
        versions = store.frame_versions("cam1")
        loads = {m.version: m.stage for m in store.model_versions()}
    assert [versions[s] for s in seqs] == [card.version] * len(seqs)
    assert loads[card.version] == "production"
    status = model_status(svc)
    assert status["swaps"] == 1 and status["canary"] is None and status["shadow"] is None
    assert {r["version"] for r in status["refused"]} >= {"v0002", "v0003", "v0004"}
    exposition = httpx.get(f"{svc.url}/metrics", timeout=10).text
    assert metric_value(exposition, "qc_model_serving", role="production", version=card.version) == 1.0


def test_a_production_model_that_fails_its_warm_up_at_start_up_never_serves(
    tmp_path: Path, taxonomy: Taxonomy
) -> None:
    root = tmp_path / "registry"
    onnx = constant_detector_onnx(tmp_path / "fixed.onnx", nc=taxonomy.num_classes, anchors=7)
    Registry.open(root, seed_from=None).register(onnx, draft_for(taxonomy), stage="production")
    config = service_config(tmp_path / "svc", root, rollout={"watch_s": 0.2})
    with running(config, expect_ready=False) as svc:
        ready = httpx.get(f"{svc.url}/readyz", timeout=10)
        status = model_status(svc)
        with open_stream(svc, "cam1") as ws:
            ack = send_and_ack(ws, message("cam1", 0))
    assert ready.status_code == 503 and "warm-up inference failed" in ready.json()["checks"]["model"]
    assert status["production"] is None and "warm-up" in status["error"]
    assert (ack.status, ack.code) == ("retry", "not_ready")
