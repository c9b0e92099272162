"""Tracking and counting per camera: belt-motion-aware tracking, a counting line, one `Item` per physical item.

`CameraCounter` (counter.py) is the entry point: ``update(frame, detections) -> CountResult``, ``flush()``,
``state()``/``restore()``. The rest are its parts: `CountingLine` (line.py), `BeltTracker` (tracker.py) on
`BeltMotion` (belt.py), the per-item record (record.py), aggregates (aggregate.py), box relations (boxes.py), the
crop thumbnail (crop.py), the grader's kept views (views.py) and its say in the verdict (grading.py), handing an item
on (handoff.py) and the `Item` value (item.py). scoring.py compares counted items with a clip's truth.
"""

from edge.tracking.aggregate import FlagPolicy
from edge.tracking.counter import CameraCounter, CounterConfig, CountResult
from edge.tracking.item import Item
from edge.tracking.line import CountingLine
from edge.tracking.tracker import TrackerConfig

__all__ = ["CameraCounter", "CountResult", "CounterConfig", "CountingLine", "FlagPolicy", "Item", "TrackerConfig"]
