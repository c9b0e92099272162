"""How a `PipelinedDetector` turns encoded frames into pixels: at which scale, and on what (threads, worker
processes, the model's device). One value, validated once; `qc bench` and `qc eval` pass it on as they got it."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StrictBool, model_validator

from vision.options import Count, CountOrZero, Options

MAX_DECODE_WORKERS = 64  # threads or processes: more than any node has cores to give them


class FrameDecoding(Options):
    """Where and how a pipeline decodes JPEG frames (PNGs and decoded arrays are always decoded on the host)."""

    scaled: StrictBool = Field(
        default=True, description="Decode each JPEG at the smallest DCT scale that still holds the detector's input "
        "(`vision.jpeg`; boxes are in full-size pixels either way); False decodes every frame in full."
    )
    threads: Annotated[Count, Field(le=MAX_DECODE_WORKERS)] | None = Field(
        default=None, description="Threads that decode one batch's JPEGs in parallel (OpenCV releases the GIL). "
        "Default: 1 on the CPU provider, whose cores the model already keeps busy; on a GPU one per core up to "
        "`vision.throughput.pipelined.MAX_DECODE_THREADS`, so decoding never starves a fast model."
    )
    processes: Annotated[CountOrZero, Field(le=MAX_DECODE_WORKERS)] = Field(
        default=0, description="Worker processes that decode and letterbox each batch's JPEGs straight into a shared "
        "batch tensor instead (`vision.throughput.decode_processes`; 0: none): for a GPU, where threads leave the "
        "GIL as the bottleneck."
    )
    on_device: StrictBool = Field(
        default=False, description="Decode and letterbox JPEGs on the detector's device instead "
        "(`vision.throughput.device_decode`: nvJPEG on a GPU, needs torch and torchvision); the batch stays there "
        "for the session."
    )

    @model_validator(mode="after")
    def _one_place(self) -> FrameDecoding:
        if self.on_device and self.processes:
            raise ValueError("decode on the device or in decode processes, not both")
        return self


DEFAULT_FRAME_DECODING = FrameDecoding()
