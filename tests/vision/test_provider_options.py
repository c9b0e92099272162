"""The provider options sessions open with: our GPU defaults under the caller's, TensorRT's engine cache folder."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from onnx_builders import tiny_detector_onnx

from vision.detector import Detector
from vision.detector_options import RuntimeOptions
from vision.provider_options import default_engine_cache_dir, engine_cache_for, session_provider_options
from vision.taxonomy import Taxonomy

TRT, CUDA, CPU = "TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"


def test_tensorrt_caches_engines_and_timings_and_the_callers_options_win(tmp_path: Path) -> None:
    given = {TRT: {"trt_fp16_enable": "True", "trt_timing_cache_path": "/shared/timing"},
             CUDA: {"arena_extend_strategy": "kNextPowerOfTwo"}}
    trt, cuda, cpu = session_provider_options([TRT, CUDA, CPU], given, tmp_path)
    assert trt == {
        "trt_engine_cache_enable": "True",
        "trt_engine_cache_path": str(tmp_path),
        "trt_timing_cache_enable": "True",
        "trt_timing_cache_path": "/shared/timing",
        "trt_fp16_enable": "True",
    }
    assert cuda == {"arena_extend_strategy": "kNextPowerOfTwo"}
    assert cpu == {}
    assert session_provider_options([TRT, CUDA]) == [{}, {"arena_extend_strategy": "kSameAsRequested"}]


def test_the_engine_folder_is_made_only_for_tensorrt(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    wanted = tmp_path / "cache" / "engines"
    assert engine_cache_for([CUDA, CPU], wanted) is None and not wanted.exists()
    assert engine_cache_for([TRT, CUDA, CPU], wanted) == wanted and wanted.is_dir()
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    with caplog.at_level(logging.WARNING, logger="vision.provider_options"):
        assert engine_cache_for([TRT], blocked / "engines") is None  # the session still opens, uncached
    assert "cannot be used" in caplog.text and str(blocked / "engines") in caplog.text


def test_default_engine_folder_follows_the_environment(tmp_path: Path) -> None:
    assert default_engine_cache_dir({"QC_ENGINE_CACHE": str(tmp_path)}) == tmp_path
    assert default_engine_cache_dir({"XDG_CACHE_HOME": "/xdg"}) == Path("/xdg/conveyor-qc/tensorrt")
    assert default_engine_cache_dir({}) == Path.home() / ".cache" / "conveyor-qc" / "tensorrt"


def test_a_cpu_detector_makes_no_engine_folder(tmp_path: Path, taxonomy: Taxonomy) -> None:
    model = tiny_detector_onnx(tmp_path / "tiny.onnx", rows=4 + taxonomy.num_classes)
    runtime = RuntimeOptions(providers=[CPU], engine_cache_dir=tmp_path / "engines", cpu_replicas=1)
    detector = Detector(model, taxonomy, runtime=runtime)
    try:
        assert detector.engine_cache_dir is None and not (tmp_path / "engines").exists()
    finally:
        detector.close()
