"""The `qc serve` configuration: one pydantic tree, every key documented, unknown keys refused.

Sources, later ones winning: defaults, a YAML file (``qc serve --config FILE``), environment variables
``QC_<SECTION>__<KEY>`` (e.g. ``QC_SERVICE__PORT=8080``, ``QC_STORE__URL=postgresql+psycopg://...``; lists such as
``QC_CAMERAS`` take JSON). A bad setting stops start-up with `ConfigError`, whose message names the key path and,
for a YAML file, the line (``cameras[1].line.x (line 14): ...``).

Example::

    service: {host: 0.0.0.0, port: 8000}
    data_dir: /var/lib/conveyor-qc
    model: {registry_root: /var/lib/conveyor-qc/registry, version: null, providers: null}
    rollout: {watch_s: 10, canary_cameras: [belt2], shadow: true}  # follow the registry (edge.models)
    counting:
      flag_below: {default: 0.8, banana: 0.7}
      skus: {APL-GALA-1KG: apple}
      spoiled_vote: null  # produce-vote calibration; null: the served model card's own (edge.tracking.aggregate)
      idle_flush_s: 5
    cameras:
      - id: belt1
        token: change-me-belt1-token
        line: {x: 0.5}
        direction: +x
      - id: belt2
        token: change-me-belt2-token
        line: {points: [[0.3, 0.0], [0.7, 1.0]]}
        direction: +x
        flag_below: {apple: 0.6}
        sku: APL-GALA-1KG
    review:  # the page under /review; more users: `qc users add NAME --role ops`
      secret_key: change-me-to-a-random-string-of-32-or-more-chars
      users:
        - {name: lead, role: admin, password_hash: "scrypt$14$8$1$..."}  # from `qc users hash-password`
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from edge.protocol import CAMERA_ID_PATTERN, Limits
from edge.review_settings import ReviewSection
from vision.errors import InputError, QCError
from vision.model_card import check_spoiled_vote
from vision.taxonomy import DEFAULT_FLAG_BELOW
from vision.user_dirs import data_home

Direction = Literal["+x", "-x", "+y", "-y"]


class ConfigError(QCError):
    """The service configuration is missing, unreadable or invalid; the message names the key."""


def default_data_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$XDG_DATA_HOME/conveyor-qc`` (XDG default ``~/.local/share``)."""
    return data_home(env)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServiceSection(_Section):
    host: str = Field("127.0.0.1", description="Interface the HTTP/WebSocket server listens on.")
    port: int = Field(8000, ge=0, le=65535, description="TCP port (0 = any free port).")
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description="uvicorn log level.")
    shutdown_grace_s: float = Field(
        10.0, ge=0, description="On shutdown, how long frames already queued may take to finish before the rest "
        "are answered 'retry'."
    )
    api_docs: bool = Field(
        False, description="Serve the interactive API docs at /docs and /redoc (their scripts come from a CDN, which "
        "an edge node may not reach). /openapi.json is always served."
    )


class LineSection(_Section):
    """Where a camera counts: a vertical line at ``x``, a horizontal one at ``y``, or a segment ``points``.

    Coordinates are fractions of the frame width/height (0..1), so the line survives a change of resolution.
    """

    x: float | None = Field(None, ge=0, le=1, description="Vertical counting line at this fraction of the width.")
    y: float | None = Field(None, ge=0, le=1, description="Horizontal counting line at this fraction of the height.")
    points: tuple[tuple[float, float], tuple[float, float]] | None = Field(
        None, description="A counting segment [[x0, y0], [x1, y1]], fractions of width/height."
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> LineSection:
        given = [k for k in ("x", "y", "points") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of x, y, points (got {given or 'none'})")
        if self.points is not None:
            (x0, y0), (x1, y1) = self.points
            if not all(0 <= v <= 1 for v in (x0, y0, x1, y1)):
                raise ValueError(f"points must be fractions in 0..1, got {[list(p) for p in self.points]}")
            if (x0, y0) == (x1, y1):
                raise ValueError("points must be two different points")
        return self


def _check_thresholds(value: dict[str, float]) -> dict[str, float]:
    for produce, t in value.items():
        if not 0 <= t <= 1:
            raise ValueError(f"threshold for {produce!r} must be in 0..1, got {t}")
    return value


class CameraSection(_Section):
    id: str = Field(description="Camera id, as the capture daemon sends it (1-64 of [A-Za-z0-9_.-]).")
    token: SecretStr = Field(description="Bearer token this camera's daemon authenticates with (>= 8 chars).")
    line: LineSection = Field(default_factory=lambda: LineSection(x=0.5), description="The counting line.")
    direction: Direction = Field("+x", description="Downstream direction of the belt in the image (+x = left to right).")
    flag_below: dict[str, float] = Field(
        default_factory=dict,
        description="Per-produce freshness thresholds overriding counting.flag_below for this camera.",
    )
    sku: str | None = Field(
        None, description="SKU this belt carries when frames come without an sku tag (see counting.skus)."
    )

    @field_validator("id")
    @classmethod
    def _id_format(cls, v: str) -> str:
        if not CAMERA_ID_PATTERN.match(v):
            raise ValueError(f"camera id must be 1-64 characters of [A-Za-z0-9_.-], got {v!r}")
        return v

    @field_validator("token")
    @classmethod
    def _token_length(cls, v: SecretStr) -> SecretStr:
        if len(v.get_secret_value()) < 8:
            raise ValueError("token must be at least 8 characters")
        return v

    @field_validator("flag_below")
    @classmethod
    def _thresholds(cls, v: dict[str, float]) -> dict[str, float]:
        return _check_thresholds(v)

    @model_validator(mode="after")
    def _direction_crosses_line(self) -> CameraSection:
        if self.line.x is not None and self.direction not in ("+x", "-x"):
            raise ValueError(f"a line at x needs direction +x or -x (the belt must cross it), got {self.direction}")
        if self.line.y is not None and self.direction not in ("+y", "-y"):
            raise ValueError(f"a line at y needs direction +y or -y (the belt must cross it), got {self.direction}")
        return self


class CountingSection(_Section):
    flag_below: dict[str, float] = Field(
        default_factory=lambda: {"default": DEFAULT_FLAG_BELOW},
        description="Freshness below which an item is flagged, per produce kind; key 'default' for the rest.",
    )
    skus: dict[str, str] = Field(
        default_factory=dict, description="SKU tag -> produce kind; a tagged frame's items take that produce."
    )
    spoiled_vote: dict[str, float] | None = Field(
        None,
        description="A produce-vote calibration that replaces the served model's: each named produce kind's vote from "
        "its spoiled classes is multiplied by this factor in (0, 1]. Unset: each model version's own (its card's "
        "spoiled_vote; the shipped v0003 discounts tomato to 0.37, a version without one votes undiscounted), "
        "following the model on a swap; {} turns it off. Measure one with qc count-table --spoiled-vote.",
    )
    frame_history: int = Field(
        150, ge=0, description="Recent frames (JPEG) kept per camera so the whole frame a flagged item was seen best "
        "in is stored for review; 0 stores none."
    )
    idle_flush_s: float = Field(
        5.0, ge=0, description="A counted item is committed when its track ends; when a camera has sent no frame "
        "for this many seconds (and none of its frames is in flight) the items still in view are committed and its "
        "tracks ended, so a stream that stops loses none. 0 = never."
    )

    @field_validator("flag_below")
    @classmethod
    def _thresholds(cls, v: dict[str, float]) -> dict[str, float]:
        return _check_thresholds(v)

    @field_validator("spoiled_vote")
    @classmethod
    def _factors(cls, v: dict[str, float] | None) -> dict[str, float] | None:
        if v is None:
            return v
        try:
            check_spoiled_vote(v)
        except InputError as exc:
            raise ValueError(str(exc)) from None
        return v

    def threshold(self, produce: str, camera: CameraSection | None = None) -> float:
        """The flag threshold of ``produce`` on ``camera``: camera override, else per-produce, else default."""
        if camera is not None and produce in camera.flag_below:
            return camera.flag_below[produce]
        return self.flag_below.get(produce, self.flag_below.get("default", DEFAULT_FLAG_BELOW))


class BatcherSection(_Section):
    max_batch: int = Field(8, ge=1, le=256, description="Most frames per detector call (across all cameras).")
    max_wait_ms: float = Field(
        10.0, ge=0, le=1000, description="How long the first frame of a batch waits for company before the call."
    )
    queue_limit: int = Field(
        64, ge=1, description="Most frames accepted and not yet processed, all cameras together; more get 'retry'."
    )
    retry_hold_s: float = Field(
        5.0, ge=0, description="After a camera's frame is answered 'retry', how long its later frames get 'retry' "
        "too while the service waits for that frame to be resent (frames of a camera are processed in order); "
        "after that later frames go ahead and the missing one, if it comes, is dropped as out of order."
    )
    max_failures: int = Field(
        3, ge=1, description="Times a frame may fail inside the service (answered 'retry') before it is dropped "
        "with reason 'internal', so one poison frame cannot stall its camera."
    )


class StoreSection(_Section):
    url: str | None = Field(
        None, description="SQLAlchemy URL of the store; default sqlite:///<data_dir>/qc.sqlite3 (WAL). "
        "PostgreSQL: postgresql+psycopg://user@host/db."
    )


class FeedSection(_Section):
    every_s: float | None = Field(
        None, gt=0, description="Export the waste feed every this many seconds into the store's waste_feed table "
        "(and Parquet under `out`); off by default (`qc waste export --every` does the same beside the service)."
    )
    days: int = Field(
        7, ge=1, le=92, description="Days (UTC, through today) each periodic export covers: late reviews in them update "
        "their rows."
    )
    hourly: bool = Field(False, description="Hourly rows instead of daily ones.")
    site: str = Field("default", min_length=1, max_length=64, description="Site name written into the feed's rows.")
    out: Path | None = Field(None, description="Folder for the Parquet files; none = the SQL table only.")


class MonitorSection(_Section):
    """Model monitoring (`GET /alerts`, `qc monitor`): the rules' windows and thresholds. Every alert names the
    camera, the model version and the numbers."""

    check_every_s: float = Field(5.0, gt=0, description="How often the rules are checked (alerts logged, gauges set).")
    flowing_s: float = Field(
        30.0, gt=0, description="A camera counts as streaming while its last frame came within this many seconds; "
        "per-camera rules stay quiet for a camera that stopped sending."
    )
    no_detections_s: float = Field(
        300.0, gt=0, description="Alert when a streaming camera's frames have had no detection for this long "
        "(silence is timed from the model version's first frame on that camera)."
    )
    no_detections_min_frames: int = Field(
        10, ge=1, description="Frames without a detection needed too before no_detections fires (a trickle "
        "proves nothing)."
    )
    bucket_s: float = Field(
        60.0, gt=0, description="Flag rate and class mix are summed in time buckets of this length (bounded memory)."
    )
    recent_s: float = Field(900.0, gt=0, description="The recent window compared with the trailing one.")
    trailing_s: float = Field(3600.0, gt=0, description="The trailing window, just before the recent one.")
    flag_rate_delta: float = Field(
        0.15, gt=0, le=1, description="Alert when the recent flag rate (flagged / counted items) differs from the "
        "trailing one by more than this (absolute, e.g. 0.05 -> 0.20)."
    )
    min_items: int = Field(50, ge=1, description="Counted items each window needs before flag rates are compared.")
    class_mix_tvd: float = Field(
        0.3, gt=0, le=1, description="Alert when the total variation distance between the recent and the trailing "
        "class mix of the detections exceeds this (0 = same mix, 1 = disjoint)."
    )
    min_detections: int = Field(300, ge=1, description="Detections each window needs before class mixes are compared.")
    review_every_s: float = Field(60.0, gt=0, description="How often review decisions are read from the store.")
    review_last_n: int = Field(
        100, ge=1, le=500, description="Review precision is computed over each camera's last this many decided flags."
    )
    min_reviews: int = Field(20, ge=1, description="Decided flags needed before review precision is judged.")
    min_precision: float = Field(
        0.6, ge=0, le=1, description="Alert when review precision (confirmed / (confirmed + rejected)) is below this."
    )
    shadow_max_disagreement: float = Field(
        0.2, ge=0, le=1, description="Alert when the shadow model's disagreement with production (1 - mean "
        "agreement over the window) is above this."
    )
    shadow_window: int = Field(500, ge=1, description="Latest shadow agreements kept per camera (within recent_s).")
    shadow_min_frames: int = Field(50, ge=1, description="Shadow agreements needed before disagreement is judged.")
    colour_baseline_s: float = Field(
        300.0, gt=0, description="A camera's belt colour baseline: the mean over its first this many seconds of "
        "frames (kept while the service runs)."
    )
    colour_window_s: float = Field(
        60.0, gt=0, description="Time constant of the moving average of the belt colour compared with the baseline."
    )
    colour_min_frames: int = Field(
        10, ge=1, description="Frames the baseline and the moving average each need before colour is judged."
    )
    brightness_delta: float = Field(
        0.25, gt=0, description="Alert (exposure_drift) when the belt's brightness differs from the baseline by "
        "more than this fraction."
    )
    white_balance_delta: float = Field(
        0.15, gt=0, description="Alert (colour_drift) when the belt's B/G or R/G ratio differs from the baseline by "
        "more than this fraction."
    )
    colour_sample_width: int = Field(
        80, ge=8, description="Frames are subsampled to about this width before the belt colour is measured."
    )

    @model_validator(mode="after")
    def _windows_hold_buckets(self) -> MonitorSection:
        if self.recent_s < self.bucket_s or self.trailing_s < self.bucket_s:
            raise ValueError(
                f"recent_s ({self.recent_s:g}) and trailing_s ({self.trailing_s:g}) must each be at least bucket_s "
                f"({self.bucket_s:g})"
            )
        return self


class ModelSection(_Section):
    # A string, not a Path: a Path would turn an object-store URL (s3://bucket/x) into s3:/bucket/x.
    registry_root: str | None = Field(
        None, description="Model registry folder or fsspec URL (s3://bucket/registry); default $QC_REGISTRY or the "
        "XDG data dir's registry."
    )
    version: str | None = Field(None, description="Model version to serve (e.g. v0003); default the production one.")
    providers: list[str] | None = Field(
        None, description="ONNX Runtime execution providers in order of preference; default TensorRT, CUDA, CPU "
        "(whatever is available). /readyz fails when the first one is not the one in use."
    )
    imgsz: int | None = Field(None, ge=32, description="Fit size for dynamic-shape models; default the card's.")
    conf_threshold: float = Field(0.25, gt=0, lt=1, description="Detection confidence threshold.")
    iou_threshold: float = Field(0.6, gt=0, le=1, description="NMS IoU threshold.")
    cpu_replicas: int | None = Field(
        None, ge=1, le=64, description="On the CPU provider, how many ONNX Runtime sessions split each batch between "
        "them (each on cores/replicas threads; faster than one session on all cores for small inputs, see qc bench); "
        "default one per core, at most 4. Ignored on a GPU."
    )
    # The GPU path (verified on the CPU only so far; see README "GPU path").
    uint8_input: bool | None = Field(
        None, description="Feed the model the letterboxed uint8 BGR pixels and normalise inside the graph (the "
        "session gets an edited copy of the version's graph; its file and sha256 are unchanged): a quarter of the "
        "bytes to upload to a GPU, and no float pass on the host. On an int8 version from `qc quantize` the pixels "
        "are the graph's quantized input already, so nothing normalises or quantizes them anywhere. Default (unset): "
        "on for an int8 version (card dtype int8), off for fp32 and fp16 ones."
    )
    topk: int | None = Field(
        None, ge=1, description="Reduce the model output inside the graph to the K anchors with the best class "
        "score before it is copied back (K columns instead of all anchors); detections are unchanged while K is at "
        "least the number of anchors over conf_threshold (300 is ample for a belt). Default: the full output."
    )
    io_binding: bool | None = Field(
        None, description="Run through ONNX Runtime's IO binding, the output bound to the provider's device and "
        "copied back once; default on for CUDA and TensorRT, off on the CPU."
    )
    engine_cache_dir: str | None = Field(
        None, description="Where TensorRT keeps the engines it builds and its timing cache, so that a restart or a "
        "swap back loads an engine in seconds instead of building it for minutes (used only when TensorRT serves); "
        "default $QC_ENGINE_CACHE, else $XDG_CACHE_HOME/conveyor-qc/tensorrt."
    )


class RolloutSection(_Section):
    """Following the model registry: hot-swap, canary cameras, shadow scoring (see `edge.models`)."""

    watch_s: float = Field(
        10.0, ge=0, description="Every this many seconds the service reads the registry's production, canary and "
        "shadow versions; a changed one is loaded, verified and warmed up in the background, then swapped in between "
        "two batches (a model that fails is refused and the current one keeps serving). 0 = never; a pinned "
        "model.version is never swapped either."
    )
    canary_cameras: list[str] = Field(
        default_factory=list, description="Cameras whose frames the registry's canary version detects while it has "
        "one; the other cameras keep production."
    )
    shadow: bool = Field(
        True, description="Run the registry's shadow version on the same frames after production (never delaying "
        "an ack), storing its results apart (table shadow_frames) with its agreement with production."
    )
    agreement_iou: float = Field(
        0.5, gt=0, le=1, description="IoU at which a shadow box matches a production box of the same class."
    )


class LimitsSection(_Section):
    max_header_bytes: int = Field(4096, ge=64, description="Largest frame-message JSON header.")
    max_message_bytes: int = Field(8 * 1024 * 1024, ge=1024, description="Largest frame message (header + JPEG).")
    max_pixels: int = Field(
        4096 * 4096, ge=1, description="Largest image (width x height), read from the JPEG header before decoding."
    )
    max_multipart_uploads: int = Field(
        8, ge=1, description="POST /frames multipart bodies read and split at once, all cameras together; one more "
        "is answered 429 'retry' (too_many_uploads) before its body is read."
    )
    max_multipart_uploads_per_camera: int = Field(
        1, ge=1, description="POST /frames multipart bodies of one camera read and split at once (a camera sends "
        "its frames in order, one after another); one more is answered 429 'retry' (too_many_uploads)."
    )

    def protocol(self) -> Limits:
        """As the protocol's `Limits` value."""
        return Limits(self.max_header_bytes, self.max_message_bytes, self.max_pixels)


class ServeConfig(BaseSettings):
    """Everything `qc serve` needs."""

    model_config = SettingsConfigDict(
        extra="forbid", frozen=True, env_prefix="QC_", env_nested_delimiter="__", validate_default=True
    )

    service: ServiceSection = Field(default_factory=ServiceSection, description="HTTP server.")
    data_dir: Path = Field(default_factory=default_data_dir, description="Folder for the default SQLite store.")
    cameras: list[CameraSection] = Field(default_factory=list, description="The cameras allowed to send frames.")
    counting: CountingSection = Field(default_factory=CountingSection, description="Counting and flagging rules.")
    batcher: BatcherSection = Field(default_factory=BatcherSection, description="Dynamic batching.")
    store: StoreSection = Field(default_factory=StoreSection, description="Where results are committed.")
    model: ModelSection = Field(default_factory=ModelSection, description="Which model to serve, and how.")
    rollout: RolloutSection = Field(
        default_factory=RolloutSection, description="Following the registry: hot-swap, canary, shadow."
    )
    limits: LimitsSection = Field(default_factory=LimitsSection, description="Input size caps.")
    review: ReviewSection = Field(
        default_factory=ReviewSection, description="The review page under /review: users, sessions, page size."
    )
    feed: FeedSection = Field(default_factory=FeedSection, description="Periodic export of the waste feed.")
    monitor: MonitorSection = Field(
        default_factory=MonitorSection, description="Model monitoring: alert rules, windows and thresholds."
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment overrides the file (passed as init kwargs), as in a container.
        return (env_settings, init_settings)

    @field_validator("cameras")
    @classmethod
    def _unique_ids(cls, v: list[CameraSection]) -> list[CameraSection]:
        seen: set[str] = set()
        for cam in v:
            if cam.id in seen:
                raise ValueError(f"camera id {cam.id!r} appears twice")
            seen.add(cam.id)
        return v

    @model_validator(mode="after")
    def _canary_cameras_known(self) -> ServeConfig:
        unknown = [c for c in self.rollout.canary_cameras if self.camera(c) is None]
        if unknown:
            raise ValueError(f"rollout.canary_cameras names unknown camera(s) {unknown}; cameras: "
                             f"{[c.id for c in self.cameras]}")
        return self

    def camera(self, camera_id: str) -> CameraSection | None:
        """The camera with this id, if configured."""
        return next((c for c in self.cameras if c.id == camera_id), None)

    @property
    def store_url(self) -> str:
        """The store URL, defaulted."""
        return self.store.url or f"sqlite:///{self.data_dir / 'qc.sqlite3'}"


def load_config(path: str | os.PathLike[str] | None = None, **overrides: Any) -> ServeConfig:
    """Read ``path`` (YAML) if given, apply ``QC_*`` environment variables and ``overrides``; validate.

    Raises ConfigError naming every bad key (and its YAML line).
    """
    raw: dict[str, Any] = {}
    text = ""
    if path is not None:
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read config file {p}: {exc.strerror or exc}") from None
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{p} is not valid YAML: {exc}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{p}: the top level must be a mapping of sections, got {type(loaded).__name__}")
        raw = loaded or {}
    raw.update(overrides)
    try:
        return ServeConfig(**raw)
    except ValidationError as exc:
        where = str(path) if path is not None else "config"
        raise ConfigError(format_validation_error(exc, where, text)) from None


def format_validation_error(exc: ValidationError, where: str, yaml_text: str = "") -> str:
    """One line per bad key: ``<file>: cameras[0].line.x (line 7): Input should be ...``."""
    lines = yaml_key_lines(yaml_text) if yaml_text else {}
    env_keys = {
        tuple(name[len("QC_"):].lower().split("__")): name for name in os.environ if name.startswith("QC_")
    }
    out = [f"{where}: {exc.error_count()} invalid setting(s)"]
    for err in exc.errors():
        loc = tuple(err["loc"])
        key = format_loc(loc)
        named = [p for p in loc if isinstance(p, str)]
        env = next((v for k, v in env_keys.items() if tuple(named[: len(k)]) == k), None)
        line = _nearest_line(lines, loc)
        at = f" (from ${env})" if env else f" (line {line})" if line else ""
        out.append(f"  {key}{at}: {err['msg']}")
    return "\n".join(out)


def format_loc(loc: tuple[Any, ...]) -> str:
    """``('cameras', 0, 'line', 'x')`` -> ``cameras[0].line.x``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def yaml_key_lines(text: str) -> dict[tuple[Any, ...], int]:
    """1-based line of every key path in a YAML document (mapping keys and sequence items)."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return {}
    found: dict[tuple[Any, ...], int] = {}

    def walk(node: yaml.Node, path: tuple[Any, ...]) -> None:
        found[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                sub = (*path, key.value)
                walk(value, sub)
                found[sub] = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, (*path, i))

    if root is not None:
        walk(root, ())
    return found


def _nearest_line(lines: dict[tuple[Any, ...], int], loc: tuple[Any, ...]) -> int | None:
    # pydantic adds non-key parts (e.g. a union member's type) to loc; fall back to the longest known prefix.
    for n in range(len(loc), 0, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return None
