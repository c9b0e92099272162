"""Static int8 quantization of a detector ONNX graph for CPU edge nodes (the graph half of `qc quantize`).

ONNX Runtime's post-training static quantization, QDQ format: weights int8 per output channel (QInt8),
activations uint8 per tensor (QUInt8), ranges from MinMax calibration. The graph keeps float32 input and output
(Quantize/DequantizeLinear pairs inside), so the detector feeds it exactly what it feeds the fp32 model; on a CPU
with AVX512-VNNI ONNX Runtime fuses the pairs into integer kernels.

Calibration frames are N images spread evenly over the data set's sorted train split (any split if it has none):
a mix made by `qc dataset mix` holds each part as one run of sorted names, so the first N would measure the
activation ranges of its first part only; spread, the sample is the whole set's, whatever its order (to calibrate
on one kind of frame, give a data set of that kind). They are pre-processed by a `vision.detector.Detector` on the
source model: each frame letterboxed into its own minimal rectangle, frames of one shape batched together, bit for
bit the tensors the detector will feed the int8 model.

The Detect head's box and class decoding (DFL softmax and conv, anchor maths, sigmoid, concat/split, and the
activations of the head's last layers, which match by op type too) stays float: quantizing it costs box accuracy
for next to no time. This is the configuration measured on v0002; a graph ONNX Runtime's symbolic shape
inference cannot handle is pre-processed without it (it fails on this graph and would leave a temp file in the
working directory). Every intermediate file lives in a temporary directory, never in the working directory.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from training.evaluate import check_names
from training.yolo_dataset import ALL_SPLITS, DatasetError, image_paths, load_dataset
from vision.atomic_file import write_bytes_atomic
from vision.detector_options import RuntimeOptions
from vision.errors import InputError, ModelLoadError, QCError
from vision.model_card import sha256_file
from vision.options import whole_number
from vision.taxonomy import Taxonomy

INT8_NAME = "model.onnx"
DEFAULT_FRAMES = 128
CALIBRATION_BATCH = 8
# Calibration and the load check pre-process on the host exactly as a CPU node does, in one session (no replicas to
# split a calibration batch between).
ONE_CPU_SESSION = RuntimeOptions(providers=["CPUExecutionProvider"], cpu_replicas=1)
# Op types of the Detect head that decode boxes and classes; kept float (see module docstring).
DECODE_OPS = frozenset(
    {"Sigmoid", "Concat", "Split", "Mul", "Add", "Sub", "Div", "Softmax", "Transpose", "Reshape", "Slice"}
)
# Ops a graph that is already quantized has; quantizing it again is refused.
QUANTIZED_OPS = frozenset(
    {"QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul", "ConvInteger", "MatMulInteger"}
)
_MODULE = re.compile(r"^/model\.(\d+)/")


class QuantizeError(QCError):
    """The model cannot be quantized as asked (not an fp32 detector graph, already quantized, conversion failed)."""


@dataclass(frozen=True)
class Calibration:
    """The frames the activation ranges were measured on."""

    data: Path  # the data set's data.yaml
    split: str
    images: tuple[Path, ...]
    shapes: dict[str, int]  # network input "HxW" -> frames letterboxed to it
    available: int  # images in the split the frames were spread over

    def to_dict(self) -> dict[str, Any]:
        return {
            "data": str(self.data),
            "split": self.split,
            "frames": len(self.images),
            "of": self.available,
            "first": str(self.images[0]),
            "last": str(self.images[-1]),
            "input_shapes": dict(self.shapes),
        }


@dataclass(frozen=True)
class Int8Model:
    """What `quantize_int8` did: the source, the int8 file it wrote, the calibration and the settings."""

    source: Path
    source_sha256: str
    source_size_bytes: int
    onnx_path: Path
    sha256: str
    size_bytes: int
    calibration: Calibration
    settings: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": {"path": str(self.source), "sha256": self.source_sha256, "size_bytes": self.source_size_bytes},
            "int8": {"path": str(self.onnx_path), "sha256": self.sha256, "size_bytes": self.size_bytes},
            "calibration": self.calibration.to_dict(),
            "settings": dict(self.settings),
            "seconds": round(self.seconds, 2),
        }


def calibration_images(
    dataset_path: str | os.PathLike[str], taxonomy: Taxonomy, frames: int
) -> tuple[Path, str, list[Path], int]:
    """(data.yaml, split, ``frames`` image paths spread evenly over the sorted paths, in order, and how many there
    were) of the train split, or of every split when the data set declares no train split or it is empty; all of
    them when there are fewer. Raises DatasetError / InputError naming the problem."""
    frames = whole_number("number of calibration frames", frames)
    dataset = load_dataset(dataset_path)
    check_names(dataset, taxonomy, "in use")
    split = "train"
    try:
        paths = image_paths(dataset, split) if split in dataset.splits else []
    except DatasetError:
        paths = []  # a declared but empty train split: any split will do
    if not paths:
        split = ALL_SPLITS
        paths = image_paths(dataset, split)
    return dataset.yaml_path, split, spread(paths, frames), len(paths)


def spread(paths: Sequence[Path], count: int) -> list[Path]:
    """``count`` of ``paths`` at even steps from the first (all of them when there are no more than ``count``)."""
    if count >= len(paths):
        return list(paths)
    return [paths[i * len(paths) // count] for i in range(count)]


def calibration_batches(
    detector: Any, images: Sequence[Path], batch: int = CALIBRATION_BATCH
) -> Iterator[tuple[np.ndarray, int]]:
    """(input tensor, frames read so far) per calibration batch: ``batch`` frames at a time, grouped by input shape
    (`Detector.prepare`), so every tensor is what the detector will feed the model for those frames."""
    import cv2

    for start in range(0, len(images), batch):
        frames = []
        for path in images[start : start + batch]:
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                raise DatasetError(f"{path}: cv2 cannot decode this image")
            frames.append(image)
        done = min(start + batch, len(images))
        for prepared in detector.prepare(frames):
            yield prepared.tensor, done


def decode_nodes(model: Any) -> list[str]:
    """Names of the Detect head's decoding nodes (`DECODE_OPS` and the DFL) in an ultralytics ONNX model.

    The head is the last ``/model.N/`` module (N = 23 in YOLO11n); an ultralytics export names every node after
    the module it belongs to. Empty for a graph without such names (then everything is quantized).
    """
    nodes = model.graph.node
    indices = [int(m.group(1)) for n in nodes if (m := _MODULE.match(n.name))]
    if not indices:
        return []
    head = f"/model.{max(indices)}/"
    return [n.name for n in nodes if n.name.startswith(head) and (n.op_type in DECODE_OPS or "/dfl/" in n.name)]


def float_nodes(model: Any, prefixes: Sequence[str], besides: Sequence[str] = ()) -> list[str]:
    """Names of the nodes (not in ``besides``) whose names start with one of ``prefixes``: the layers a caller keeps
    float. InputError naming a prefix that matches no node (a typo would otherwise quantize everything silently)."""
    names = [n.name for n in model.graph.node]
    unknown = [p for p in prefixes if not any(name.startswith(p) for name in names)]
    if unknown:
        raise InputError(f"no node of the graph is named starting with {', '.join(map(repr, unknown))} "
                         "(ultralytics exports name nodes after their module, e.g. '/model.0/')")
    skip = set(besides)
    return [name for name in names if name.startswith(tuple(prefixes)) and name not in skip] if prefixes else []


def _check_source(path: Path) -> Any:
    """The source graph (onnx ModelProto), refused when it is not a float graph that can be quantized."""
    import onnx

    if not path.is_file():
        what = "is a directory, not a model file" if path.is_dir() else "not found"
        raise ModelLoadError(f"model file {what}: {path}")
    try:
        model = onnx.load(str(path))
    except Exception as exc:  # protobuf's DecodeError and onnx's own errors for a file that is not a graph
        raise ModelLoadError(f"{path}: not a readable ONNX graph ({exc})") from exc
    quantized = sorted({n.op_type for n in model.graph.node} & QUANTIZED_OPS)
    if quantized:
        raise QuantizeError(f"{path} is already quantized (it has {', '.join(quantized)} nodes); pass the fp32 model")
    return model


def quantize_int8(
    model: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    calibration_dataset: str | os.PathLike[str],
    frames: int = DEFAULT_FRAMES,
    *,
    taxonomy: Taxonomy,
    batch: int = CALIBRATION_BATCH,
    keep_float: Sequence[str] = (),
    progress: Callable[[int, int], None] | None = None,
) -> Int8Model:
    """Quantize the fp32 ONNX detector ``model`` to int8 (static QDQ) into ``out_dir/model.onnx``.

    Calibrates on ``frames`` images spread over ``calibration_dataset`` (see `calibration_images`), pre-processed
    by a `Detector` on ``model``; ``progress(done, total)`` after each batch of frames. The int8 graph keeps the
    source's metadata (ultralytics' names, stride, imgsz: the detector reads them) and must load in `Detector`.
    Nodes whose names start with one of ``keep_float`` (e.g. ``/model.0/``) stay float beside the head's decoding;
    a prefix that names no node is refused before anything is written.
    Raises ModelLoadError / DatasetError / InputError for bad inputs, QuantizeError when quantization fails.
    """
    import onnx
    import onnxruntime
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType
    from onnxruntime.quantization import quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from vision.detector import Detector

    start = time.monotonic()
    source, out = Path(model), Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"output folder {out} is a file")
    batch = whole_number("calibration batch", batch)
    source_graph = _check_source(source)
    float_nodes(source_graph, keep_float)  # an unknown prefix is refused before anything is written
    detector = Detector(source, taxonomy, runtime=ONE_CPU_SESSION)
    if detector.input_dtype != np.float32:
        raise QuantizeError(f"{source} takes {detector.input_dtype} input; int8 quantization starts from fp32")
    data_yaml, split, images, available = calibration_images(calibration_dataset, taxonomy, frames)
    shapes: dict[str, int] = {}  # network input "HxW" -> calibration frames of that shape

    class Reader(CalibrationDataReader):  # type: ignore[misc]  # ORT's base class is untyped
        def __init__(self) -> None:
            self._batches = calibration_batches(detector, images, batch)

        def get_next(self) -> dict[str, np.ndarray] | None:
            item = next(self._batches, None)
            if item is None:
                return None
            tensor, done = item
            key = f"{tensor.shape[2]}x{tensor.shape[3]}"
            shapes[key] = shapes.get(key, 0) + len(tensor)
            if progress is not None:
                progress(done, len(images))
            return {detector.input_name: tensor}

    settings = {
        "format": "QDQ",
        "weights": "QInt8 per channel",
        "activations": "QUInt8 per tensor",
        "calibration_method": "MinMax",
        "calibration_batch": batch,
        "symbolic_shape_inference": False,
        "float_decode_nodes": 0,
        "onnxruntime": onnxruntime.__version__,
    }
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="qc-quantize-") as tmp:
        pre, quantized = Path(tmp) / "pre.onnx", Path(tmp) / "int8.onnx"
        try:
            quant_pre_process(str(source), str(pre), skip_symbolic_shape=True)
        except Exception as exc:  # onnxruntime.quantization raises plain exceptions of many kinds
            raise QuantizeError(f"ONNX Runtime could not pre-process {source} for quantization: {exc}") from exc
        pre_graph = onnx.load(str(pre))
        excluded = decode_nodes(pre_graph)
        settings["float_decode_nodes"] = len(excluded)
        kept = float_nodes(pre_graph, keep_float, besides=excluded)
        if keep_float:
            settings["float_kept"] = {"prefixes": list(keep_float), "nodes": len(kept)}
        excluded += kept
        try:
            quantize_static(
                str(pre),
                str(quantized),
                Reader(),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                nodes_to_exclude=excluded,
                calibrate_method=CalibrationMethod.MinMax,
            )
        except QCError:
            raise
        except Exception as exc:  # onnxruntime.quantization raises plain exceptions of many kinds
            raise QuantizeError(f"ONNX Runtime could not quantize {source}: {exc}") from exc
        int8 = onnx.load(str(quantized))
        _keep_metadata(int8, source_graph)
        target = write_bytes_atomic(out / INT8_NAME, int8.SerializeToString())
    detector.close()
    _check_loads(target, taxonomy)
    return Int8Model(
        source=source,
        source_sha256=sha256_file(source),
        source_size_bytes=source.stat().st_size,
        onnx_path=target,
        sha256=sha256_file(target),
        size_bytes=target.stat().st_size,
        calibration=Calibration(data_yaml, split, tuple(images), shapes, available),
        settings=settings,
        seconds=time.monotonic() - start,
    )


def _keep_metadata(model: Any, source: Any) -> None:
    """Put back any of the source's metadata entries the quantizer dropped; the source's values win."""
    wanted = {p.key: p.value for p in source.metadata_props}
    kept = [p for p in model.metadata_props if p.key not in wanted]
    del model.metadata_props[:]
    for key, value in [*((p.key, p.value) for p in kept), *wanted.items()]:
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value


def _check_loads(path: Path, taxonomy: Taxonomy) -> None:
    """The int8 file must load in our detector with float32 input (what the edge will do with it)."""
    from vision.detector import Detector

    try:
        detector = Detector(path, taxonomy, runtime=ONE_CPU_SESSION)
    except ModelLoadError as exc:
        raise QuantizeError(f"the quantized {path} does not load in the detector: {exc}") from exc
    detector.close()
    if detector.input_dtype != np.float32:
        raise QuantizeError(f"the quantized {path} takes {detector.input_dtype} input, expected float32")
