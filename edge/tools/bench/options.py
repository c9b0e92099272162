"""What one `qc bench` run measures, as small values validated when they are made: the models (`BenchModels`), the
frames (`BenchFrames`), the detector paths (`DetectorRuns`) and the service under load (`ServiceLoad`), beside the
detector's own option values (`RuntimeOptions`) and how ours decodes frames (`FrameDecoding`). Once the model is
resolved, the `qc serve` the bench starts is one `ServiceRun`: what it serves (`ServedModel`) and how."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, PositiveFloat, StrictBool, StrictInt, model_validator

from vision.detector_options import DEFAULT_EDITS, GraphEdits, RuntimeOptions
from vision.model_card import GraderSpec
from vision.options import Count, CountOrZero, Options
from vision.taxonomy import Taxonomy
from vision.throughput.frame_decoding import FrameDecoding

MAX_BATCH = 256
MAX_STREAMS = 64
MAX_ATTACK_CLIENTS = 256


class BenchModels(Options):
    """Which models ours and the peer run, and the graph edits ours (and the service) run with."""

    model: Path | None = None  # None: the shipped model
    peer_model: Path | None = None  # None: the peer runs the same model as ours
    int8: StrictBool = False  # ours on the shipped int8 deployment, the peer on the shipped fp32 model
    peer: StrictBool = True  # measure ultralytics' predict when installed
    grader: Path | None = None  # None: the grader the model's card names beside it, if any
    # Ours (and the service) on the graph that takes uint8 pixels; None: for an int8 model, as the service does.
    uint8_input: StrictBool | None = None
    topk: Count | None = None  # ours (and the service) on the graph whose output keeps K anchors

    @model_validator(mode="after")
    def _int8_picks_both(self) -> BenchModels:
        if self.int8 and (self.model is not None or self.peer_model is not None):
            raise ValueError("--int8 picks both models (ours: the shipped int8, the peer: the shipped fp32); "
                             "use --model and --peer-model instead to choose them")
        return self


class BenchFrames(Options):
    """The conveyor frames (JPEG) every detector path and the service's cameras run over."""

    count: Count = 128
    size: tuple[Count, Count] = (640, 360)  # width, height, as the capture daemon sends them
    source: Path | None = None  # a video or a folder of .jpg; None: rendered by `qc synth clip`
    seed: StrictInt = 7


class DetectorRuns(Options):
    """The detector paths' batch sizes (the first is the headline and the service's max_batch) and rounds."""

    batches: Annotated[tuple[Annotated[Count, Field(le=MAX_BATCH)], ...], Field(min_length=1)] = (8,)
    rounds: Count = 3


class ServiceLoad(Options):
    """`qc serve` under camera streams: how many, how fast, how long; or a soak, or starvation attacks."""

    streams: Annotated[CountOrZero, Field(le=MAX_STREAMS)] = 4  # 0: skip the service
    fps: PositiveFloat = 15.0
    seconds: PositiveFloat = 20.0
    queue_limit: Count = 64  # the service's batcher.queue_limit
    resend: StrictBool = True  # the cameras resend frames answered retry, as qc capture does
    soak_s: PositiveFloat | None = None  # only the service, under the streams for this long
    attack: tuple[Literal["signin", "multipart"], ...] = ()  # only the service, one camera without and during these
    attack_clients: Annotated[Count, Field(le=MAX_ATTACK_CLIENTS)] = 16

    @model_validator(mode="after")
    def _one_service_run(self) -> ServiceLoad:
        if self.soak_s is not None and self.streams < 1:
            raise ValueError(f"--soak needs --streams >= 1, got {self.streams}")
        if self.attack and self.soak_s is not None:
            raise ValueError("--attack and --soak exclude each other: each is a service-only run of its own")
        return self

    @property
    def stream_seconds(self) -> float:
        """How long the cameras stream: the soak's length in a soak, else `seconds`."""
        return self.soak_s if self.soak_s is not None else self.seconds


class ServedModel(Options):
    """The version the bench's `qc serve` serves: the detector's ONNX file, its taxonomy and input size, the graph
    edits it is served with, and its grader (file and card section), registered with it as one version."""

    onnx: Path
    taxonomy: Taxonomy
    input_size: tuple[Count, Count]  # the detector's fit size, as the card's input_size
    edits: GraphEdits = DEFAULT_EDITS
    grader: tuple[Path, GraderSpec] | None = None


class ServiceRun(Options):
    """One `qc serve` the bench starts and loads: what it serves, the cameras' load (or the attacks), how ONNX
    Runtime runs the model (its providers and CPU replicas go into the service's config) and the batcher's
    ``max_batch`` (the bench's headline batch size)."""

    served: ServedModel
    load: ServiceLoad = Field(default_factory=ServiceLoad)
    runtime: RuntimeOptions = Field(default_factory=RuntimeOptions)
    max_batch: Annotated[Count, Field(le=MAX_BATCH)] = 8


@dataclass(frozen=True)
class BenchOptions:
    """What to measure and how long; see `qc bench --help`. Each part was validated when it was made."""

    models: BenchModels = field(default_factory=BenchModels)
    frames: BenchFrames = field(default_factory=BenchFrames)
    runs: DetectorRuns = field(default_factory=DetectorRuns)
    runtime: RuntimeOptions = field(default_factory=RuntimeOptions)  # ours, the limit and the service
    decoding: FrameDecoding = field(default_factory=FrameDecoding)  # how ours decodes the frames
    service: ServiceLoad = field(default_factory=ServiceLoad)

    @property
    def service_only(self) -> bool:
        """A soak or an attack run: only the service, no detector paths."""
        return self.service.soak_s is not None or bool(self.service.attack)
