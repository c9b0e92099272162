"""Builds a camera's `CameraCounter` from its configuration and the served model (the service's counter factory)."""

from __future__ import annotations

from edge.config import CameraSection, LineSection, ServeConfig
from edge.models.serving import LoadedModel
from edge.service.worker import CounterFactory
from edge.tracking.aggregate import FlagPolicy
from edge.tracking.counter import CameraCounter, CounterConfig
from edge.tracking.line import CountingLine
from vision.frame import Frame
from vision.taxonomy import DEFAULT_FLAG_BELOW

_AXES = {"+x": (1.0, 0.0), "-x": (-1.0, 0.0), "+y": (0.0, 1.0), "-y": (0.0, -1.0)}


def counting_line(line: LineSection, direction: str, width: int, height: int) -> CountingLine:
    """The configured line (fractions of the frame) in pixels of a ``width`` x ``height`` frame."""
    if line.x is not None:
        return CountingLine.vertical(line.x * width, direction)  # type: ignore[arg-type]
    if line.y is not None:
        return CountingLine.horizontal(line.y * height, direction)  # type: ignore[arg-type]
    if line.points is None:
        raise ValueError("a line needs x, y or points")  # the config validator guarantees one of them
    (x0, y0), (x1, y1) = line.points
    # A segment is one lane of a wide belt: only crossings between its ends count.
    return CountingLine((x0 * width, y0 * height), (x1 * width, y1 * height), _AXES[direction], bounded=True)


def flag_policy(config: ServeConfig, camera: CameraSection) -> FlagPolicy:
    """Flag thresholds: the camera's overrides over the per-produce ones over the default."""
    per_produce = {k: v for k, v in config.counting.flag_below.items() if k != "default"}
    per_produce.update(camera.flag_below)
    return FlagPolicy(default=config.counting.flag_below.get("default", DEFAULT_FLAG_BELOW), per_produce=per_produce)


def counter_factory(config: ServeConfig) -> CounterFactory:
    """The service's counter factory for ``config`` (a camera's counter needs its first frame's size)."""

    def build(camera: CameraSection, model: LoadedModel, frame: Frame) -> CameraCounter:
        h, w = frame.image.shape[:2]
        counter_config = CounterConfig(
            line=counting_line(camera.line, camera.direction, w, h),
            flags=flag_policy(config, camera),
            sku_produce=dict(config.counting.skus),
            spoiled_vote=config.counting.spoiled_vote,
        )
        return CameraCounter(camera.id, model.card.taxonomy_obj(), counter_config, model_version=model.version,
                             model_spoiled_vote=model.card.spoiled_vote, grader=model.grader)

    return build
