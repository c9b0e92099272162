"""`qc bench`: the real command on a real small model, real frames and a real `qc serve`; keys and sane values only
(speed is what the bench measures, never what a test asserts)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from edge.config import load_config
from edge.tools.bench.options import (
    BenchFrames, BenchModels, BenchOptions, DetectorRuns, ServedModel, ServiceLoad, ServiceRun,
)
from edge.tools.bench.run import resolve_model
from edge.tools.bench.service_bench import seed_registry, write_config
from edge.tools.bench.stats import paired_ratios, percentile
from vision.detector_options import GraphEdits, RuntimeOptions
from vision.errors import InputError
from vision.model_card import sha256_file
from vision.registry import DEFAULT_MODEL_DIR, ONNX_NAME, Registry
from vision.taxonomy import Taxonomy

pytestmark = pytest.mark.slow  # runs qc bench end to end (peer, service, rounds)

HEADLINE = ("detector_fps", "limit_fps", "peer_fps", "ratio_vs_limit", "ratio_vs_peer")


def qc_bench(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vision.cli", "bench", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_json_has_every_figure_with_sane_values(untrained_onnx: Path) -> None:
    done = qc_bench("--json", "--model", str(untrained_onnx), "--frames", "16", "--streams", "1", "--seconds", "2",
                    "--rounds", "1", "--batch", "4")
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)  # stdout is the JSON object and nothing else
    for key in HEADLINE:
        assert isinstance(report[key], float) and report[key] > 0, key
    assert report["ratio_vs_limit"] == pytest.approx(report["detector_fps"] / report["limit_fps"])
    assert report["ratio_vs_peer"] == pytest.approx(report["detector_fps"] / report["peer_fps"])
    assert len(report["by_batch"][0]["ratio_vs_limit_rounds"]) == 1  # one round: its ratio is the headline
    assert report["frames"] == 16 and report["frame_size"] == [640, 360] and report["batch"] == 4
    assert report["input_shape"] == [192, 320]  # 640 x 360 fitted into 320, padded to stride 32
    assert report["decode_scale"] == 2  # 640 x 360 JPEGs decoded straight to 320 x 180
    assert report["decode_threads"] == 1  # on the CPU the model already keeps every core busy
    assert report["uint8_input"] is False  # an fp32 model keeps its float input unless asked
    assert report["frame_source"] == "qc synth clip"
    (by_batch,) = report["by_batch"]
    limits = [by_batch[k]["fps"] for k in ("limit", "limit_one_session", "limit_parallel", "limit_default")
              if k in by_batch]
    assert report["limit_fps"] == max(limits)
    assert ("limit_one_session" in by_batch) == ("limit_parallel" in by_batch) == (report["cpu_replicas"] > 1)
    assert len(by_batch["detector"]["rounds_s"]) == 1
    # Ours and the peer ran the same model on the same frames (untrained: both find nothing).
    assert by_batch["detector"]["detections_per_frame"] == by_batch["serial"]["detections_per_frame"]

    service = report["service"]
    assert service["streams"] == 1 and service["frames_sent"] == 30  # 2 s x 15 fps
    assert 0 < service["frames_ok"] <= service["frames_sent"]
    assert service["drops"] == service["frames_sent"] - service["frames_ok"]
    assert 0 < service["latency_p50_ms"] <= service["latency_p99_ms"] <= service["latency_max_ms"]
    assert service["peak_rss_mib"] > 50 and service["queue_limit"] == 64
    assert 0 <= service["max_queue_depth"] <= service["queue_limit"]
    assert service["resend"] is True and service["retries"] >= 0  # daemon-like cameras by default
    assert report["soak"] is None


def test_daemon_like_cameras_get_every_frame_processed_through_an_overloaded_queue(untrained_onnx: Path) -> None:
    """A one-frame queue refuses most frames at first; cameras that resend as `qc capture` does still get every
    frame processed exactly once, and the retries show."""
    done = qc_bench("--json", "--model", str(untrained_onnx), "--frames", "8", "--streams", "3", "--fps", "30",
                    "--seconds", "2", "--rounds", "1", "--batch", "2", "--queue-limit", "1", "--no-peer")
    assert done.returncode == 0, done.stderr[-2000:]
    service = json.loads(done.stdout)["service"]
    assert service["frames_sent"] == 180 and service["retries"] > 0
    assert service["frames_ok"] == service["frames_sent"] and service["drops"] == 0 and service["unanswered"] == 0
    assert service["span_s"] >= 2.0 and service["max_queue_depth"] <= 1


def test_cameras_that_never_resend_count_retry_as_a_drop(untrained_onnx: Path) -> None:
    done = qc_bench("--model", str(untrained_onnx), "--frames", "8", "--streams", "1", "--seconds", "1", "--rounds",
                    "1", "--batch", "2", "--no-peer", "--no-resend")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "cameras never resend: retry is a drop" in done.stdout and "retry acks" not in done.stdout


def test_peer_on_another_model_is_named_with_both_cards(untrained_onnx: Path, tmp_path: Path) -> None:
    # A version folder layout: model.onnx with card.json beside it, as the registry and `qc quantize` write them.
    ours = tmp_path / "ours" / "model.onnx"
    ours.parent.mkdir()
    ours.write_bytes(untrained_onnx.read_bytes())
    shipped_card = json.loads((Path("vision/default_model/card.json")).read_text())
    (ours.parent / "card.json").write_text(json.dumps({**shipped_card, "version": "v0042", "dtype": "int8",
                                                        "metrics": {"map50": 0.5}, "grader": None}))
    done = qc_bench("--json", "--model", str(ours), "--peer-model", str(untrained_onnx), "--frames", "4",
                    "--streams", "0", "--rounds", "1", "--batch", "2", "--cpu-replicas", "2")
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert report["peer_model"] == str(untrained_onnx) and report["model"] == str(ours)
    assert report["model_card"] == {"version": "v0042", "parent_version": shipped_card["parent_version"],
                                    "dtype": "int8", "map50": 0.5, "eval_data": None}
    assert report["peer_model_card"] is None  # no card beside the peer's file
    assert report["cpu_replicas"] == 2 and report["peer_fps"] > 0
    assert "limit_one_session" in report["by_batch"][0]


def test_int8_runs_the_shipped_int8_against_the_peer_on_the_shipped_fp32() -> None:
    done = qc_bench("--int8", "--json", "--frames", "4", "--streams", "0", "--rounds", "1", "--batch", "2")
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert Path(report["model"]).parts[-3:] == ("default_model", "int8", "model.onnx")
    assert Path(report["peer_model"]).parts[-2:] == ("default_model", "model.onnx")
    assert report["model_card"]["dtype"] == "int8" and report["peer_model_card"]["dtype"] == "fp32"
    assert report["model_card"]["parent_version"] == report["peer_model_card"]["version"]
    assert report["detector_fps"] > 0 and report["peer_fps"] > 0
    assert report["uint8_input"] is True  # an int8 graph takes the pixels as its quantized input, as served


@pytest.mark.parametrize(("flag", "scale"), [("--scaled-decode", 2), ("--full-decode", 1)])
def test_ours_finds_what_the_serial_path_finds_with_either_decode(flag: str, scale: int) -> None:
    """The shipped model (it finds items): ours (sharded across 2 replicas) and the one-thread path decode alike."""
    done = qc_bench(flag, "--json", "--frames", "6", "--streams", "0", "--rounds", "1", "--batch", "3",
                    "--cpu-replicas", "2", "--no-peer", "--decode-threads", "2")
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert report["decode_scale"] == scale and report["decode_threads"] == 2
    (by_batch,) = report["by_batch"]
    assert by_batch["detector"]["detections_per_frame"] == by_batch["serial"]["detections_per_frame"] > 0


def test_gpu_path_options_are_recorded_and_ours_finds_what_the_serial_path_finds() -> None:
    done = qc_bench("--uint8-input", "--topk", "100", "--json", "--frames", "4", "--streams", "0", "--rounds", "1",
                    "--batch", "2")
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert (report["uint8_input"], report["topk"], report["io_binding"]) == (True, 100, False)  # CPU: no binding
    (by_batch,) = report["by_batch"]
    # The limit runs the edited graph on the uint8 batches, with one plain session of it too.
    assert all(by_batch[k]["fps"] > 0 for k in ("limit", "limit_default", "detector", "serial"))
    assert by_batch["detector"]["detections_per_frame"] == by_batch["serial"]["detections_per_frame"] > 0


def test_decode_processes_and_provider_are_recorded_and_the_saved_file_is_the_report(tmp_path: Path) -> None:
    saved = tmp_path / "bench.json"
    done = qc_bench("--uint8-input", "--decode-processes", "2", "--provider", "CPUExecutionProvider", "--cpu-replicas",
                    "1", "--json", "--frames", "4", "--streams", "0", "--rounds", "1", "--batch", "2", "--no-peer",
                    "--save", str(saved))
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert json.loads(saved.read_text()) == report
    assert (report["decode_processes"], report["provider"]) == (2, "CPUExecutionProvider")
    (by_batch,) = report["by_batch"]
    assert by_batch["detector"]["detections_per_frame"] == by_batch["serial"]["detections_per_frame"] > 0


def test_without_peer_and_service_the_table_says_so(untrained_onnx: Path) -> None:
    done = qc_bench("--model", str(untrained_onnx), "--frames", "4", "--streams", "0", "--rounds", "1", "--no-peer",
                    "--batch", "2", "--batch", "4")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "(a) ORT alone, our session" in done.stdout and "skipped (--no-peer)" in done.stdout
    assert done.stdout.count("ratio_vs_limit") == 2  # one line per batch size
    assert "service:" not in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--frames", "0"], "count: input should be greater than or equal to 1, got 0"),
        (["--batch", "0"], "batches.0: input should be greater than or equal to 1, got 0"),
        (["--streams", "-1"], "streams: input should be greater than or equal to 0, got -1"),
        (["--soak", "5", "--streams", "0"], "--soak needs --streams >= 1"),
        (["--model", "/nonexistent/model.onnx"], "model file not found: /nonexistent/model.onnx"),
        (["--peer-model", "/nonexistent/peer.onnx"], "model file not found: /nonexistent/peer.onnx"),
        (["--cpu-replicas", "0"], "cpu_replicas: input should be greater than or equal to 1, got 0"),
        (["--int8", "--model", "/x/model.onnx"], "--int8 picks both models"),
        (["--topk", "0"], "topk: input should be greater than or equal to 1, got 0"),
        (["--decode-processes", "-1"], "processes: input should be greater than or equal to 0, got -1"),
        (["--device-decode", "--decode-processes", "2"], "decode on the device or in decode processes, not both"),
        (["--provider", "NoSuchExecutionProvider"], "unknown ONNX Runtime execution provider"),
    ],
    ids=["frames", "batch", "streams", "soak-without-streams", "missing-model", "missing-peer-model", "replicas",
         "int8-and-model", "topk", "decode-processes", "device-and-processes", "provider"],
)
def test_bad_options_are_named(args: list[str], message: str) -> None:
    done = qc_bench(*args)
    assert done.returncode == 2
    assert message in done.stderr and done.stderr.startswith("error: ")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: BenchFrames(count=0), "count: input should be greater than or equal to 1"),
        (lambda: DetectorRuns(batches=()), "batches: tuple should have at least 1 item"),
        (lambda: DetectorRuns(batches=(8, 300)), "batches.1: input should be less than or equal to 256, got 300"),
        (lambda: DetectorRuns(rounds=0), "rounds: input should be greater than or equal to 1"),
        (lambda: ServiceLoad(fps=0), "fps: input should be greater than 0"),
        (lambda: ServiceLoad(soak_s=-1), "soak_s: input should be greater than 0"),
        (lambda: ServiceLoad(streams=65), "streams: input should be less than or equal to 64"),
        (lambda: BenchModels(int8=True, model=Path("m.onnx")), "--int8 picks both models"),
        (lambda: BenchOptions(), None),
    ],
)
def test_options_are_checked_when_made(make: Callable[[], object], message: str | None) -> None:
    if message is None:
        assert not make().service_only  # type: ignore[attr-defined]
        return
    with pytest.raises(InputError, match=re.escape(message)):
        make()


def shipped(taxonomy: Taxonomy, **values: object) -> ServedModel:
    """The shipped model as the bench's service serves it."""
    return ServedModel(onnx=DEFAULT_MODEL_DIR / ONNX_NAME, taxonomy=taxonomy, input_size=(320, 320), **values)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"max_batch": 0}, "max_batch: input should be greater than or equal to 1, got 0"),
        ({"max_batch": 300}, "max_batch: input should be less than or equal to 256, got 300"),
        ({"max_batch": True}, "max_batch: input should be a valid integer, got True"),
        ({"load": {"fps": 0}}, "load: fps: input should be greater than 0, got 0"),
        ({"served": {"onnx": "m.onnx", "taxonomy": "x", "input_size": (320, 320)}},
         "served: taxonomy: input should be a dictionary or an instance of Taxonomy, got 'x'"),
        ({"served": {"onnx": "m.onnx", "input_size": (320, 320)}}, "served: taxonomy: field required"),
    ],
    ids=["batch-0", "batch-300", "batch-bool", "load", "taxonomy", "missing-taxonomy"],
)
def test_a_service_run_is_checked_when_made(taxonomy: Taxonomy, values: dict[str, object], message: str) -> None:
    with pytest.raises(InputError, match=re.escape(message)):
        ServiceRun(**{"served": shipped(taxonomy), **values})  # type: ignore[arg-type]
    with pytest.raises(InputError, match=re.escape("input_size.0: input should be greater than or equal to 1")):
        ServedModel(onnx=Path("m.onnx"), taxonomy=taxonomy, input_size=(0, 320))


def test_a_service_run_is_the_config_qc_serve_loads(tmp_path: Path, taxonomy: Taxonomy) -> None:
    run = ServiceRun(
        served=shipped(taxonomy, edits=GraphEdits(uint8_input=True, topk=50)),
        load=ServiceLoad(streams=2, queue_limit=12, soak_s=30.0),
        runtime=RuntimeOptions(providers=("CPUExecutionProvider",), cpu_replicas=2), max_batch=4,
    )
    assert run.load.stream_seconds == 30.0 and ServiceLoad(seconds=3.0).stream_seconds == 3.0
    seed_registry(tmp_path / "registry", run.served)
    config = load_config(write_config(tmp_path, 18000, ["bench0", "bench1"], run))
    assert [c.id for c in config.cameras] == ["bench0", "bench1"]
    assert (config.batcher.max_batch, config.batcher.queue_limit) == (4, 12)
    model = config.model
    assert (model.uint8_input, model.topk, model.cpu_replicas) == (True, 50, 2)
    assert list(model.providers or ()) == ["CPUExecutionProvider"]
    # The shipped model is served as the shipped version, with its own card and grader.
    card = Registry.open(tmp_path / "registry").production()
    assert card.onnx_sha256 == sha256_file(DEFAULT_MODEL_DIR / ONNX_NAME) and card.grader is not None


def test_resolve_model_names_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="model file not found"):
        resolve_model(tmp_path / "none.onnx")


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [([], 50, None), ([3.0], 99, 3.0), ([1.0, 2.0, 3.0, 4.0], 50, 2.5), (list(range(101)), 99, 99.0),
     ([5.0, 1.0, 3.0], 0, 1.0), ([5.0, 1.0, 3.0], 100, 5.0)],
)
def test_percentile(values: list[float], q: float, expected: float | None) -> None:
    assert percentile(values, q) == expected


@pytest.mark.parametrize(
    ("others", "ours", "expected"),
    [
        # Round 2 ran on a machine twice as slow for everyone: its ratio is the same as round 1's.
        ([[1.0, 2.0]], [2.0, 4.0], [0.5, 0.5]),
        ([[1.0, 2.0], [0.5, 3.0]], [2.0, 4.0], [0.25, 0.5]),  # the faster of the others, round by round
        ([[1.0]], [2.0, 4.0], [0.5]),  # a round missing on one side is skipped
        ([[1.0]], [0.0], []),
        ([], [1.0], []),
    ],
)
def test_paired_ratios(others: list[list[float]], ours: list[float], expected: list[float]) -> None:
    assert paired_ratios(others, ours) == pytest.approx(expected)


def test_a_qc_export_fp16_file_is_benched_with_its_own_card_and_registered_as_fp16(
    untrained_onnx: Path, tmp_path: Path
) -> None:
    """`qc export` writes model_fp16.onnx beside model_fp16.card.json: the bench reads that card, and the service's
    registry gets the fp16 dtype the graph has (a card saying fp32 would be refused)."""
    from edge.tools.bench.run import card_path
    from edge.tools.bench.service_bench import graph_dtype
    from training.export import convert_fp16

    fp16 = convert_fp16(untrained_onnx, tmp_path / "model_fp16.onnx")
    assert card_path(fp16) is None
    card = tmp_path / "model_fp16.card.json"
    card.write_text("{}")
    assert card_path(fp16) == card
    assert (graph_dtype(fp16), graph_dtype(untrained_onnx)) == ("fp16", "fp32")
