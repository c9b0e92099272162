"""The option values a `vision.detector.Detector` is made with, each validated once where it is made (`Options`):
what images it takes (`InputOptions`), how its session's copy of the graph is edited (`GraphEdits`) and how ONNX
Runtime runs it (`RuntimeOptions`). How raw output becomes `Detections` is `vision.decode.DecodeOptions`.

Every field has a default, so ``Detector(model_path, taxonomy)`` is the common call and a caller names only the
group it changes: ``Detector(path, taxonomy, runtime=RuntimeOptions(cpu_replicas=1))``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, StrictBool

from vision.options import Count, CountOrZero, Options

DEFAULT_MAX_PIXELS = 40_000_000

# Provider names in order of preference: at least one, and a lone string is not a list of them.
ProviderList = Annotated[tuple[str, ...], Field(min_length=1)]


class InputOptions(Options):
    """The images a detector takes and the size they are fitted into."""

    imgsz: Count | None = Field(
        default=None,
        description="The size images are fitted into for a model with dynamic H/W (a multiple of the model's "
        "stride, checked when the model is loaded). Default: the size in the model's ultralytics metadata, else "
        "640. A model with static H/W always uses its own input size.",
    )
    max_pixels: Count = Field(
        default=DEFAULT_MAX_PIXELS, description="The largest image (width x height) accepted; a bigger one is an "
        "InputError, before any work."
    )


class GraphEdits(Options):
    """Edits to the session's copy of the graph (`vision.graph_edit`; the file on disk is never changed): the GPU
    path, where the bytes uploaded and copied back are what they cut."""

    uint8_input: StrictBool = Field(
        default=False, description="Feed the letterboxed BGR uint8 pixels, (B, H, W, 3), and let the graph "
        "normalise them (``Detector.input_dtype`` is then uint8; a quarter of the bytes to upload)."
    )
    topk: Count | None = Field(
        default=None, description="Keep the K anchors with the best class score in the output (K columns to copy "
        "back instead of all anchors; the same detections while K is at least the number of anchors over "
        "conf_threshold). None: the full output."
    )


class RuntimeOptions(Options):
    """How ONNX Runtime runs the model: providers and their options, threads, memory, replicas, IO binding."""

    providers: ProviderList | None = Field(
        default=None, description="Execution-provider preference; default TensorRT, CUDA, CPU, whatever this "
        "onnxruntime build has."
    )
    provider_options: Mapping[str, Mapping[str, Any]] | None = Field(
        default=None, description="Per-provider ONNX Runtime options over ours (`vision.provider_options`: the CUDA "
        "arena grows by what a run asks; TensorRT keeps engines and its timing cache in engine_cache_dir)."
    )
    engine_cache_dir: Path | None = Field(
        default=None, description="Where TensorRT keeps its engines, so a restart loads them instead of building "
        "them for minutes. Default `vision.provider_options.default_engine_cache_dir`."
    )
    intra_op_threads: CountOrZero | None = Field(
        default=None, description="Threads of the main session (0: ONNX Runtime's default)."
    )
    # Off by default: in a service the same cores also decode JPEGs, track and commit, and on a shared CPU spinning
    # threads burn the time slices the work they wait for needs (README, "Benchmarks").
    intra_op_spinning: StrictBool = Field(
        default=False, description="Whether intra-op threads spin-wait for work between parallel sections."
    )
    # Off: tensors come from malloc and go back after each run, so memory never stays at a past peak, at some cost
    # per run.
    cpu_mem_arena: StrictBool = Field(default=True, description="ONNX Runtime's enable_cpu_mem_arena.")
    # A small input (192 x 320) gives one session's parallel sections little work per thread, so its threads wait
    # on each other; one-thread replicas on their own cores do not (README, "Benchmarks": speed and memory).
    cpu_replicas: Count | None = Field(
        default=None, description="On the CPU provider, how many extra sessions split each batch of several frames "
        "between them, each on cores // replicas threads (a batch of one runs on the main session, all threads). "
        "Default: one per core up to `vision.detector.MAX_AUTO_REPLICAS`, or none when intra_op_threads is given; "
        "never on a GPU."
    )
    io_binding: StrictBool | None = Field(
        default=None, description="Run through IO binding, the output bound to the provider's device and copied "
        "back once. None: on for CUDA and TensorRT, off on the CPU (where True runs the same code)."
    )


DEFAULT_INPUTS = InputOptions()
DEFAULT_EDITS = GraphEdits()
DEFAULT_RUNTIME = RuntimeOptions()
