"""The ONNX Runtime detector: letterbox a batch, run the session, decode to `Detections`.

Execution providers are tried in a preference order (TensorRT ▸ CUDA ▸ CPU by default, whatever this onnxruntime
build has). ONNX Runtime silently falls back to CPU when a GPU provider fails to initialise, so the detector reads
back what the session really runs on, exposes it as ``provider`` and logs a warning on fallback.
"""

from __future__ import annotations

import ast
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from vision.decode import DEFAULT_DECODING, DecodeOptions, decode
from vision.detections import Detections
from vision.detector_options import (
    DEFAULT_EDITS,
    DEFAULT_INPUTS,
    DEFAULT_RUNTIME,
    GraphEdits,
    InputOptions,
    RuntimeOptions,
)
from vision.errors import InputError, ModelLoadError
from vision.frame import Frame
from vision.io_binding import DeviceBatch, OutputDevice, bound_run, output_device
from vision.letterbox import Letterbox, rect_shape
from vision.letterbox_plan import LetterboxPlan
from vision.provider_options import engine_cache_for, session_provider_options
from vision.taxonomy import Taxonomy

log = logging.getLogger(__name__)

DEFAULT_PROVIDERS: tuple[str, ...] = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
DEFAULT_IMGSZ = 640
MAX_AUTO_REPLICAS = 4  # more single-purpose sessions only cost memory: 4 already keep a batch of 8 spread out
_INPUT_DTYPES = {"tensor(float)": np.dtype(np.float32), "tensor(float16)": np.dtype(np.float16)}
_UINT8_INPUT = {"tensor(uint8)": np.dtype(np.uint8)}  # the graph `vision.graph_edit.with_uint8_input` makes

# Allocates a pre-processing buffer of a shape and dtype (a pipeline passes one that recycles its buffers).
Allocator = Callable[[tuple[int, ...], np.dtype], np.ndarray]


@dataclass(frozen=True)
class PreparedBatch:
    """Images of one `Detector.prepare` call that share an input shape, pre-processed: one session call's input."""

    indices: tuple[int, ...]  # where these images are in the caller's list
    # (B, 3, H, W) in the model's dtype; (B, H, W, 3) uint8 BGR for a ``uint8_input`` detector; on the device when
    # `vision.throughput.device_decode` made it
    tensor: np.ndarray | DeviceBatch
    letterboxes: tuple[Letterbox, ...]


def choose_providers(preference: Sequence[str] | None, available: Sequence[str]) -> tuple[list[str], str]:
    """The providers to ask ONNX Runtime for, and the one we mean to run on.

    ``preference=None`` means the default order, filtered to what ``available`` has; the requested provider is
    then the best available one. An explicit preference names what the caller wants: its first entry is the
    requested provider even if this build lacks it (that counts as a fallback). CPU is the last resort.
    Unknown provider names raise ModelLoadError.
    """
    if preference is None:
        chosen = [p for p in DEFAULT_PROVIDERS if p in available] or ["CPUExecutionProvider"]
        return chosen, chosen[0]
    if isinstance(preference, str) or not preference:
        raise ModelLoadError(f"providers must be a non-empty list of provider names, got {preference!r}")
    known = set(ort.get_all_providers())
    unknown = [p for p in preference if p not in known]
    if unknown:
        raise ModelLoadError(f"unknown ONNX Runtime execution provider(s) {unknown}; known: {sorted(known)}")
    missing = [p for p in preference if p not in available]
    if missing:
        log.warning("execution provider(s) %s not available in this onnxruntime build (has %s)", missing, available)
    chosen = [p for p in preference if p in available] or ["CPUExecutionProvider"]
    return chosen, preference[0]


def usable_cores() -> int:
    """The CPUs this process may run on (its affinity mask: a container's or taskset's share, not the host's)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _is_static(dim: Any) -> bool:
    return isinstance(dim, int) and dim > 0


class Detector:
    """A YOLO detector exported to ONNX (ultralytics layout), run with ONNX Runtime; images in, `Detections` out.

    Attributes set at load: ``decoding`` (the `DecodeOptions` it was made with), ``max_pixels``, ``uint8_input``,
    ``topk``, ``provider`` (what the session really runs on), ``requested_provider``, ``fell_back``, ``providers``
    (the session's list), ``input_name``, ``input_dtype`` (float32 or float16; uint8 with ``uint8_input``),
    ``dynamic_hw``, ``dynamic_batch``, ``input_hw`` (static models), ``imgsz`` (fit size for dynamic models),
    ``stride``, ``cpu_replicas`` and ``io_binding`` (as they are, not as asked), ``engine_cache_dir``,
    ``session_model`` (the path or edited graph sessions open).
    """

    def __init__(
        self,
        model_path: str | os.PathLike[str],
        taxonomy: Taxonomy,
        *,
        decoding: DecodeOptions = DEFAULT_DECODING,
        inputs: InputOptions = DEFAULT_INPUTS,
        edits: GraphEdits = DEFAULT_EDITS,
        runtime: RuntimeOptions = DEFAULT_RUNTIME,
    ) -> None:
        """Load ``model_path`` and check it against ``taxonomy``; each option value says what its fields do.

        ``decoding``: how raw output becomes `Detections` (`vision.decode.DecodeOptions`). ``inputs``: the images
        taken and the size they are fitted into. ``edits``: the GPU path's edits of the session's copy of the
        graph (uint8 input, top-k output). ``runtime``: providers (TensorRT ▸ CUDA ▸ CPU by default, whatever is
        available), their options, threads, the CPU arena, CPU replicas and IO binding.
        Raises ModelLoadError for a missing, corrupt or mismatched model and InputError for an ``imgsz`` that is
        not a multiple of the model's stride (the option values refuse every other bad setting when made).
        """
        self.model_path = Path(model_path)
        self.taxonomy = taxonomy
        self.decoding = decoding
        self.max_pixels = inputs.max_pixels
        self.uint8_input = edits.uint8_input
        self.topk = edits.topk

        if not self.model_path.is_file():
            what = "is a directory, not a model file" if self.model_path.is_dir() else "not found"
            raise ModelLoadError(f"model file {what}: {self.model_path}")
        # What sessions are opened from: the file, or the edited graph built in memory from it.
        self.session_model: str | bytes = str(self.model_path)
        if self.uint8_input or self.topk is not None:
            from vision.graph_edit import edited_model_bytes

            self.session_model = edited_model_bytes(self.model_path, uint8_input=self.uint8_input, topk=self.topk)

        chosen, self.requested_provider = choose_providers(runtime.providers, ort.get_available_providers())
        self.engine_cache_dir: Path | None = engine_cache_for(chosen, runtime.engine_cache_dir)
        options = session_provider_options(chosen, runtime.provider_options, self.engine_cache_dir)
        on_cpu = chosen[0] == "CPUExecutionProvider"
        cores = usable_cores()
        threads = runtime.intra_op_threads
        replicas = 1 if not on_cpu else runtime.cpu_replicas or (1 if threads else min(cores, MAX_AUTO_REPLICAS))

        def open_session(intra_op_threads: int | None) -> ort.InferenceSession:
            sess_options = ort.SessionOptions()
            sess_options.enable_cpu_mem_arena = runtime.cpu_mem_arena
            sess_options.add_session_config_entry(
                "session.intra_op.allow_spinning", "1" if runtime.intra_op_spinning else "0"
            )
            if intra_op_threads:
                sess_options.intra_op_num_threads = intra_op_threads
            try:
                return ort.InferenceSession(
                    self.session_model, sess_options=sess_options, providers=chosen, provider_options=options
                )
            except Exception as exc:  # ORT raises its own pybind types (InvalidProtobuf, Fail ...), none QCError
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise ModelLoadError(f"cannot load ONNX model {self.model_path}: {reason}") from exc

        # The main session takes whole batches on all its threads: a batch of one frame cannot be split, and on all
        # cores it is answered sooner than on one replica's share of them.
        self._session = open_session(threads)
        self._replicas: list[ort.InferenceSession] = []
        if replicas > 1 and self._session.get_providers()[0] == "CPUExecutionProvider":
            share = threads or max(1, cores // replicas)
            self._replicas = [open_session(share) for _ in range(replicas)]
        self.cpu_replicas: int = max(1, len(self._replicas))
        # Each replica runs its share of a batch on a thread of its own (ORT releases the GIL during a run).
        self._replica_pool: ThreadPoolExecutor | None = (
            ThreadPoolExecutor(self.cpu_replicas - 1, thread_name_prefix="qc-ort-replica") if self._replicas else None
        )

        self.providers: tuple[str, ...] = tuple(self._session.get_providers())
        self.provider: str = self.providers[0]
        self.fell_back: bool = self.provider != self.requested_provider
        if self.fell_back:
            log.warning(
                "ONNX Runtime runs %s on %s, not the requested %s (asked for %s)",
                self.model_path.name, self.provider, self.requested_provider, chosen,
            )
        else:
            log.info("ONNX Runtime runs %s on %s", self.model_path.name, self.provider)

        self._device = output_device(self.provider, dict(zip(chosen, options)).get(self.provider, {}))
        self.io_binding: bool = self._device.on_gpu if runtime.io_binding is None else runtime.io_binding
        self._inspect_graph(inputs.imgsz)
        self._plan = LetterboxPlan(self.imgsz, self.stride, self.uint8_input, self.input_dtype.str)

    # --- loading -------------------------------------------------------------------------------------------------

    def _inspect_graph(self, imgsz: int | None) -> None:
        """Read the input/output signature and ultralytics metadata; reject models that cannot be ours."""
        where = str(self.model_path)
        meta: Mapping[str, str] = self._session.get_modelmeta().custom_metadata_map or {}
        if meta.get("end2end", "False").lower() == "true" or meta.get("args", "").find("'nms': True") >= 0:
            raise ModelLoadError(
                f"{where}: exported with NMS in the graph; export without nms (raw (B, 4+nc, A) output)"
            )

        inputs = self._session.get_inputs()
        if len(inputs) != 1:
            raise ModelLoadError(f"{where}: expected one image input, the graph has {[i.name for i in inputs]}")
        inp = inputs[0]
        self.input_name: str = inp.name
        dtypes = _UINT8_INPUT if self.uint8_input else _INPUT_DTYPES
        if inp.type not in dtypes:
            raise ModelLoadError(f"{where}: input '{inp.name}' is {inp.type}, expected {' or '.join(dtypes)}")
        self.input_dtype: np.dtype = dtypes[inp.type]
        # (batch, 3, height, width); the uint8 graph takes the pixels as they lie in memory, (batch, height, width, 3)
        shape = list(inp.shape or [])
        if len(shape) == 4 and self.uint8_input:
            shape = [shape[0], shape[3], shape[1], shape[2]]
        if len(shape) != 4 or (_is_static(shape[1]) and shape[1] != 3):
            raise ModelLoadError(f"{where}: input '{inp.name}' has shape {shape}, expected (batch, 3, height, width)")
        self.dynamic_batch: bool = not _is_static(shape[0])
        self._static_batch: int | None = None if self.dynamic_batch else int(shape[0])
        static_h, static_w = _is_static(shape[2]), _is_static(shape[3])
        if static_h != static_w:
            raise ModelLoadError(f"{where}: input shape {shape} has one static and one dynamic side; unsupported")
        self.dynamic_hw: bool = not static_h
        self.input_hw: tuple[int, int] | None = None if self.dynamic_hw else (int(shape[2]), int(shape[3]))

        self.stride: int = _meta_int(meta, "stride", 32)
        if self.input_hw is not None:
            if imgsz is not None and (imgsz, imgsz) != self.input_hw:
                log.info("%s has a static input %s; imgsz=%s is ignored", self.model_path.name, self.input_hw, imgsz)
            self.imgsz: tuple[int, int] = self.input_hw
        else:
            fit = _meta_hw(meta) if imgsz is None else None
            if imgsz is not None:
                if imgsz % self.stride:  # InputOptions made sure it is a positive int
                    raise InputError(
                        f"imgsz must be a positive multiple of the model stride {self.stride}, got {imgsz!r}"
                    )
                fit = (imgsz, imgsz)
            self.imgsz = fit or (DEFAULT_IMGSZ, DEFAULT_IMGSZ)

        outputs = self._session.get_outputs()
        self._output_name: str = outputs[0].name
        out_shape = list(outputs[0].shape or [])
        expected = 4 + self.taxonomy.num_classes
        if out_shape and len(out_shape) != 3:
            raise ModelLoadError(
                f"{where}: output '{outputs[0].name}' has shape {out_shape}, expected (batch, 4+nc, anchors)"
            )
        # A symbolic channel count is checked by decode() on the first run instead.
        if len(out_shape) == 3 and _is_static(out_shape[1]) and out_shape[1] != expected:
            raise ModelLoadError(
                f"{where}: output has {out_shape[1]} channels = 4 + {out_shape[1] - 4} classes, but the taxonomy "
                f"has {self.taxonomy.num_classes} classes (needs {expected})"
            )
        names = _meta_names(meta)
        # ultralytics' placeholder names ("0", "1", ...) carry no meaning; real names must be the taxonomy's.
        placeholder = names is not None and names == [str(i) for i in range(len(names))]
        if names is not None and not placeholder and names != list(self.taxonomy.class_names):
            raise ModelLoadError(
                f"{where}: the model's class names {names} differ from the taxonomy's {list(self.taxonomy.class_names)}"
            )

    # --- inference -----------------------------------------------------------------------------------------------

    def _check_images(
        self, images: Sequence[np.ndarray], originals: Sequence[tuple[int, int]] | None = None
    ) -> list[tuple[int, int]]:
        """Raise InputError naming the first bad image; return each image's full-size (h, w): its own shape, or
        ``originals[i]`` when the caller decoded it scaled down (`vision.jpeg.decode_for_fit`)."""
        if isinstance(images, np.ndarray) and images.ndim == 3:
            raise InputError(
                f"detect() takes a sequence of images, got one array of shape {images.shape}; "
                "call the detector on a single image instead"
            )
        if len(images) == 0:
            raise InputError("empty batch: detect() needs at least one image")
        if originals is not None and len(originals) != len(images):
            raise InputError(f"{len(images)} images but {len(originals)} original sizes")
        sizes = []
        for i, im in enumerate(images):
            if not isinstance(im, np.ndarray):
                raise InputError(f"image {i}: expected a numpy array (H x W x 3 uint8 BGR), got {type(im).__name__}")
            if im.dtype != np.uint8:
                raise InputError(f"image {i}: dtype {im.dtype} with shape {im.shape}, expected uint8 BGR")
            if im.ndim != 3 or im.shape[2] != 3:
                raise InputError(f"image {i}: shape {im.shape} ({im.dtype}), expected H x W x 3 BGR")
            if im.shape[0] == 0 or im.shape[1] == 0:
                raise InputError(f"image {i} is empty: shape {im.shape}")
            h, w = (int(im.shape[0]), int(im.shape[1])) if originals is None else originals[i]
            if h < im.shape[0] or w < im.shape[1]:
                raise InputError(
                    f"image {i}: original size {w}x{h} is smaller than its pixels {im.shape[1]}x{im.shape[0]}"
                )
            if h * w > self.max_pixels:
                raise InputError(f"image {i}: {w}x{h} = {h * w} pixels exceeds max_pixels={self.max_pixels}")
            sizes.append((h, w))
        return sizes

    def input_shape(self, image_shape: Sequence[int]) -> tuple[int, int]:
        """The (h, w) network input an image of ``image_shape`` (h, w, ...) is letterboxed into.

        Static models: their input size. Dynamic models: the image's own minimal rectangle, ``rect_shape`` of it
        alone (ultralytics' ``auto=True``), so an image's input never depends on the other images of its batch.
        """
        if self.input_hw is not None:
            return self.input_hw
        return rect_shape([image_shape[:2]], self.imgsz, self.stride)

    def preprocess(
        self,
        images: Sequence[np.ndarray],
        out: np.ndarray | None = None,
        originals: Sequence[tuple[int, int]] | None = None,
    ) -> tuple[np.ndarray, list[Letterbox]]:
        """Letterbox BGR uint8 images into one (B, 3, H, W) RGB [0, 1] tensor of the model's dtype, C-contiguous
        (``uint8_input``: one (B, H, W, 3) uint8 tensor of the letterboxed BGR pixels, `letterbox_into_hwc`).

        Every image is fitted into the model's input size (static models) or ``imgsz`` (dynamic models) and padded,
        centered, to the batch's common shape: the static size, or `rect_shape` of the batch (minimal padding).
        Each image is written straight into its slot of the tensor (`letterbox_into`), bit for bit what ultralytics'
        letterbox, ``[..., ::-1].transpose(2, 0, 1)`` and ``/ 255`` give. ``out``: a C-contiguous buffer of exactly
        that shape and dtype to fill instead of a new one (a pipeline recycles its buffers). ``originals``: each
        image's full-size (h, w) when it was decoded scaled down (`vision.jpeg.decode_for_fit`); it is placed, and
        its boxes map back, as the full-size image's would.
        """
        sizes = self._check_images(images, originals)
        shape = self.tensor_shape(len(images), self.batch_input_shape(sizes))
        if out is None:
            out = np.empty(shape, dtype=self.input_dtype)
        elif out.shape != shape or out.dtype != self.input_dtype or not out.flags.c_contiguous:
            raise InputError(
                f"preprocess out buffer is {out.shape} {out.dtype}, needs a C-contiguous {shape} {self.input_dtype}"
            )
        return out, [self._plan.fill(im, out[i], sizes[i]) for i, im in enumerate(images)]

    def tensor_shape(self, n: int, hw: tuple[int, int]) -> tuple[int, int, int, int]:
        """The shape of the session input for ``n`` images letterboxed into ``hw``: (n, 3, h, w), or (n, h, w, 3)
        for a ``uint8_input`` graph."""
        return (n, *hw, 3) if self.uint8_input else (n, 3, *hw)

    @property
    def device(self) -> OutputDevice:
        """The device the session computes on (where a `DeviceBatch` for it should lie)."""
        return self._device

    def letterbox_plan(self) -> LetterboxPlan:
        """How `preprocess` places an image into its slot, as a value another process can apply
        (`vision.throughput.decode_processes`)."""
        return self._plan

    def batch_input_shape(self, image_shapes: Sequence[Sequence[int]]) -> tuple[int, int]:
        """The (h, w) one tensor holding images of these shapes gets: the static size, or their `rect_shape`."""
        if self.input_hw is not None:
            return self.input_hw
        return rect_shape([s[:2] for s in image_shapes], self.imgsz, self.stride)

    def infer(self, batch: np.ndarray | DeviceBatch, replica: int | None = None) -> np.ndarray:
        """Run the session on a preprocessed batch; returns the raw (B, 4+nc, A) output.

        With CPU replicas a batch of several frames is split into near-equal parts along its first axis, one per
        replica, run at the same time; a batch of one runs on the main session. Static-batch models run in chunks
        of their batch size. ``replica``: run the whole batch on that replica alone, in the caller's thread (a
        caller that shards its own work across the replicas, `vision.throughput.pipelined`). A `DeviceBatch` is read
        where it lies with IO binding; where it would have to be split or padded, or the session does not bind, it
        is copied to the host first.
        """
        if isinstance(batch, DeviceBatch) and (
            self._static_batch is not None or (replica is None and len(self._replicas) > 1 and len(batch) > 1)
        ):
            batch = batch.host()
        if replica is not None:
            if not 0 <= replica < len(self._replicas):
                raise InputError(f"replica {replica} does not exist: this detector has {len(self._replicas)}")
            return self._run(self._replicas[replica], batch)
        parts = min(len(self._replicas), len(batch))
        pool = self._replica_pool
        if parts <= 1 or pool is None:
            return self._run(self._session, batch)
        bounds = np.linspace(0, len(batch), parts + 1).astype(int)
        futures = [
            pool.submit(self._run, session, batch[start:stop])
            for session, start, stop in zip(self._replicas[1:parts], bounds[1:-1], bounds[2:])
        ]
        first = self._run(self._replicas[0], batch[: bounds[1]])  # the caller's thread does a share too
        return np.concatenate([first, *(f.result() for f in futures)])

    def _run(self, session: ort.InferenceSession, batch: np.ndarray | DeviceBatch) -> np.ndarray:
        if self._static_batch is None:
            return self._call(session, batch)
        assert not isinstance(batch, DeviceBatch)  # `infer` copied it to the host
        size = self._static_batch
        chunks = []
        for start in range(0, len(batch), size):
            part = batch[start : start + size]
            n = len(part)
            if n < size:  # pad the last chunk; the padded rows' outputs are dropped
                part = np.concatenate([part, np.zeros((size - n, *part.shape[1:]), part.dtype)])
            chunks.append(self._call(session, part)[:n])
        return np.concatenate(chunks)

    def _call(self, session: ort.InferenceSession, batch: np.ndarray | DeviceBatch) -> np.ndarray:
        if isinstance(batch, DeviceBatch) and not (self.io_binding and batch.device_type == self._device.device_type):
            batch = batch.host()
        if self.io_binding:
            return bound_run(session, self.input_name, self._output_name, batch, self._device)
        return session.run([self._output_name], {self.input_name: batch})[0]

    def close(self) -> None:
        """Stop the replicas' threads (a detector that is dropped stops them too, when it is collected)."""
        if self._replica_pool is not None:
            self._replica_pool.shutdown(wait=False)

    def prepare(
        self,
        images: Sequence[np.ndarray],
        allocate: Allocator | None = None,
        originals: Sequence[tuple[int, int]] | None = None,
    ) -> list[PreparedBatch]:
        """Group images by `input_shape` and pre-process each group: the CPU half of `detect`, before the model.

        ``allocate(shape, dtype)`` supplies each group's tensor (default: a new array). A pipeline calls this for
        batch k+1 in a worker thread while the session runs batch k, then `infer` and `finish`. ``originals``: as
        in `preprocess`.
        """
        sizes = self._check_images(images, originals)
        groups: dict[tuple[int, int], list[int]] = {}
        for i, size in enumerate(sizes):
            groups.setdefault(self.input_shape(size), []).append(i)
        prepared = []
        for (h, w), indices in groups.items():
            out = allocate(self.tensor_shape(len(indices), (h, w)), self.input_dtype) if allocate else None
            tensor, boxes = self.preprocess(
                [images[i] for i in indices], out=out, originals=[sizes[i] for i in indices]
            )
            prepared.append(PreparedBatch(tuple(indices), tensor, tuple(boxes)))
        return prepared

    def finish(self, prepared: PreparedBatch, raw: np.ndarray) -> list[Detections]:
        """The `Detections` of a prepared batch from its raw model output (`infer`), in the batch's order."""
        return decode(raw, prepared.letterboxes, self.taxonomy, self.decoding)

    def detect(
        self, images: Sequence[np.ndarray], originals: Sequence[tuple[int, int]] | None = None
    ) -> list[Detections]:
        """Detect on a batch of BGR uint8 H x W x 3 images (sizes may differ); one `Detections` per image, in order.
        ``originals``: as in `preprocess` (images decoded scaled down; boxes come back in full-size pixels).

        Images sharing an input shape (`input_shape`) run together in one session call: one call for a static
        model or for same-sized frames, one per distinct shape otherwise. Padding an image to a bigger shared
        shape would change its detections with the company it keeps, so each image gets exactly the input it
        would get alone, and ultralytics' ``predict`` on it gives the same boxes (``nms_by="class"``).
        """
        results: list[Detections | None] = [None] * len(images)
        for prepared in self.prepare(images, originals=originals):
            for i, d in zip(prepared.indices, self.finish(prepared, self.infer(prepared.tensor))):
                results[i] = d
        return [d for d in results if d is not None]

    def detect_frames(self, frames: Sequence[Frame]) -> list[Detections]:
        """Detect on the images of a batch of `Frame`s; one `Detections` per frame, in order."""
        return self.detect([f.image for f in frames])

    def __call__(self, image: np.ndarray) -> Detections:
        """Detect on one BGR uint8 H x W x 3 image."""
        return self.detect([image])[0]

    def __repr__(self) -> str:
        return (
            f"Detector({str(self.model_path)!r}, provider={self.provider!r}, input={self.input_dtype.name} "
            f"{'dynamic' if self.dynamic_hw else self.input_hw}, imgsz={self.imgsz}, nms_by={self.decoding.nms_by!r}, "
            f"cpu_replicas={self.cpu_replicas}, topk={self.topk}, io_binding={self.io_binding})"
        )


def _meta_int(meta: Mapping[str, str], key: str, default: int) -> int:
    try:
        value = int(meta[key])
    except (KeyError, ValueError):
        return default
    return value if value > 0 else default


def _meta_hw(meta: Mapping[str, str]) -> tuple[int, int] | None:
    """The training/export size ultralytics records as ``imgsz`` ("[320, 320]"), if present and sane."""
    try:
        value = ast.literal_eval(meta["imgsz"])
        h, w = (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))
    except (KeyError, ValueError, TypeError, SyntaxError, IndexError):
        return None
    return (h, w) if h > 0 and w > 0 else None


def _meta_names(meta: Mapping[str, str]) -> list[str] | None:
    """Class names from ultralytics metadata ("{0: 'apple_fresh', ...}"), in id order; None if absent/unreadable."""
    try:
        value = ast.literal_eval(meta["names"])
    except (KeyError, ValueError, TypeError, SyntaxError):
        return None
    if isinstance(value, dict):
        try:
            return [str(value[k]) for k in sorted(value, key=int)]
        except (TypeError, ValueError):
            return None
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return None
