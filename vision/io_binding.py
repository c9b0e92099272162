"""One session run through ONNX Runtime's IO binding: input from host memory, or bound where it already lies on the
device (`DeviceBatch`), output left on the provider's device.

With a plain ``session.run`` ORT copies every output to the host inside the run; bound, the output is allocated on
the device the provider runs on and copied back in one call after it (`copy_outputs_to_cpu`), which is where a
graph that reduces its output on the device (`vision.graph_edit.with_topk`) pays off. The CPU provider takes the
same path (its "device" is host memory), so the code a GPU node runs is the code the CPU tests run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnxruntime as ort

# Providers whose outputs live in CUDA memory; any other provider's are bound to host memory.
_CUDA_PROVIDERS = ("CUDAExecutionProvider", "TensorrtExecutionProvider")


@dataclass(frozen=True)
class DeviceBatch:
    """A batch tensor that ONNX Runtime reads by pointer where it lies: GPU memory on a GPU node
    (`vision.throughput.device_decode` decodes and letterboxes into it), host memory for the CPU provider.

    ``tensor`` is the torch tensor that owns the memory; holding the batch keeps it alive. Duck-typed as a buffer
    (``shape``, ``dtype``, ``len``) so `vision.throughput.buffer_pool.BufferPool` recycles it like a numpy array.
    """

    tensor: Any  # torch.Tensor; torch is imported only where device batches are made
    device_type: str  # ONNX Runtime's name: "cuda" or "cpu"
    device_id: int

    @property
    def shape(self) -> tuple[int, ...]:
        """The tensor's shape."""
        return tuple(int(n) for n in self.tensor.shape)

    @property
    def dtype(self) -> np.dtype:
        """The tensor's element type as numpy names it."""
        return np.dtype(str(self.tensor.dtype).removeprefix("torch."))

    def __len__(self) -> int:
        return int(self.tensor.shape[0])

    def host(self) -> np.ndarray:
        """The batch in host memory (a copy from a GPU; the same memory on the CPU)."""
        return self.tensor.cpu().numpy()


@dataclass(frozen=True)
class OutputDevice:
    """Where a bound output is allocated: ONNX Runtime's device type ("cuda" / "cpu") and device id."""

    device_type: str
    device_id: int

    @property
    def on_gpu(self) -> bool:
        """Whether outputs live in GPU memory (IO binding is then on by default)."""
        return self.device_type == "cuda"


def output_device(provider: str, provider_options: Mapping[str, Any]) -> OutputDevice:
    """The device ``provider`` (what the session really runs on) computes on; ``device_id`` from its options."""
    if provider in _CUDA_PROVIDERS:
        return OutputDevice("cuda", int(provider_options.get("device_id", 0)))
    return OutputDevice("cpu", 0)


def bound_run(
    session: ort.InferenceSession, input_name: str, output_name: str, batch: np.ndarray | DeviceBatch,
    device: OutputDevice,
) -> np.ndarray:
    """``session``'s output for ``batch`` (C-contiguous host memory, or a `DeviceBatch` on ``device``'s device type),
    run with IO binding; a host numpy array.

    A binding per call: the replicas of a detector run at the same time on their own sessions, and a binding is
    not safe to share between threads. ORT uploads a bound host input itself (no copy on the CPU provider); a
    device batch is read in place.
    """
    binding = session.io_binding()
    if isinstance(batch, DeviceBatch):
        tensor = batch.tensor.contiguous()  # held until the run is over
        binding.bind_input(input_name, batch.device_type, batch.device_id, batch.dtype, list(batch.shape),
                           tensor.data_ptr())
    else:
        host = np.ascontiguousarray(batch)  # held until the run is over, whatever ORT does with the pointer
        binding.bind_cpu_input(input_name, host)
    binding.bind_output(output_name, device.device_type, device.device_id)
    session.run_with_iobinding(binding)
    return binding.copy_outputs_to_cpu()[0]
