"""`CameraCounter`: one camera's tracker and counting line; every item that rides across the line is counted once.

Counting rules (each guards against a way peer line counters fail):

* An item counts when its box centre is seen upstream of the line and later downstream, in the belt's direction
  only; it counts at most once, ever. A box jittering across the line, or a track running backwards, cannot count
  twice or count the wrong way (supervision #2600, #1720; ultralytics #3823).
* Items are the counter's, tracks the tracker's. A track born where the belt motion says an item we already know
  should be now (its last box in belt coordinates, carried forward by the belt) is that item again, not a new one:
  its observations join the item and, if the item was already handed on, it is suppressed. So a tracker id switch
  mid-view never counts an item twice (ultralytics #9197, PR #9998).
* Crossings that were not seen are inferred from the belt motion: a track that leaves the frame downstream before
  it was ever observed beyond a line near the frame edge counts when it exits (supervision #1838); a track first
  seen downstream of the line whose belt-extrapolated position ``infer_missed_frames`` frames earlier was upstream
  counts too (the detector missed the frames in between). An item already downstream when the stream started
  (seen first downstream, and still downstream when carried back that many frames) crossed before we looked and is
  not counted. Either inference needs ``min_hits`` observations, so a one-frame false positive never counts.
* An item's class is a vote over its frames and its freshness a weighted median (`edge.tracking.aggregate`), so
  a flickering class (fresh → bruised → fresh) does not change what it is.

A counted item is handed on (in `CountResult.counted`) when its track ends — it left the view, or was lost for
``max_lost`` frames — so its produce and freshness cover all its frames; ``counted_seq`` records when it crossed.
`flush` hands on the counted items still in view at the end of a stream.

`state`/`restore` snapshot everything (belt motion, tracks and their Kalman filters, items) as JSON, so a service
that checkpoints after each frame resumes exactly where it stopped and never counts an item twice.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from edge.tracking.aggregate import PARTIAL_WEIGHT, Evidence, FlagPolicy
from edge.tracking.belt import EDGE_MARGIN_PX, box_geometry
from edge.tracking.item import MAX_CROP_BYTES, Item
from edge.tracking.line import DOWNSTREAM, UPSTREAM, CountingLine
from edge.tracking.tracker import BeltTracker, EndedTrack, TrackerConfig
from vision.detections import Detections
from vision.errors import InputError
from vision.frame import Frame
from vision.taxonomy import Taxonomy

STATE_FORMAT = 1
TWIN_IOU = 0.6  # two boxes this alike are one object (see `twins`)
TWIN_IOS = 0.8
MEMORY_PER_HIT = 10  # frames an ended item is remembered per sighting: a blip is forgotten sooner than a real item


@dataclass(frozen=True)
class CounterConfig:
    """One camera's counting settings.

    ``min_hits``: observations an item needs before any count; ``inferred_min_hits`` before a count whose crossing
    was not seen but inferred (a few false positives can line up with the belt by chance). ``infer_missed_frames``: how many missed frames
    before its first sighting a track born downstream may be assumed to have been upstream (0: never infer).
    ``dedup_gate``: a newborn track is a known item when its box centre is within this share of the item's box size
    of where the belt has carried the item (or the two overlap with IoU >= ``dedup_iou``). ``memory``: frames an
    ended item is remembered for that (at most `MEMORY_PER_HIT` per sighting). ``sku_produce``: warehouse SKU -> produce kind (a SKU that is itself a produce
    name needs no entry). ``crop_max_side``/``crop_quality``: the best crop's size and JPEG quality.
    """

    line: CountingLine
    tracker: TrackerConfig = TrackerConfig()
    flags: FlagPolicy = FlagPolicy()
    min_hits: int = 2
    inferred_min_hits: int = 2
    infer_missed_frames: int = 3
    dedup_gate: float = 0.6
    dedup_iou: float = 0.3
    memory: int = 90
    sku_produce: Mapping[str, str] = field(default_factory=dict)
    crop_max_side: int = 192
    crop_quality: int = 85

    def __post_init__(self) -> None:
        if self.min_hits < 1 or self.inferred_min_hits < self.min_hits:
            raise InputError(
                f"counter min_hits must be >= 1 and inferred_min_hits >= min_hits, got {self.min_hits} and "
                f"{self.inferred_min_hits}"
            )
        if self.infer_missed_frames < 0 or self.memory < 0:
            raise InputError("counter infer_missed_frames and memory must be >= 0 frames")
        if self.dedup_gate <= 0 or not 0 < self.dedup_iou <= 1:
            raise InputError("counter dedup_gate must be > 0 and dedup_iou within (0, 1]")
        if not 16 <= self.crop_max_side <= 1024 or not 10 <= self.crop_quality <= 100:
            raise InputError("counter crop_max_side must be within [16, 1024] and crop_quality within [10, 100]")


@dataclass(frozen=True)
class CountResult:
    """One frame's outcome: items handed on (counted, track ended) and the frame's tracked boxes (``tracker_id`` is
    the item id)."""

    counted: list[Item]
    tracked: Detections


class _Live:
    """The counter's record of one item (mutable)."""

    def __init__(self, item_id: int, taxonomy: Taxonomy) -> None:
        self.id = item_id
        self.tracks: set[int] = set()
        self.first_seq = self.last_seq = -1
        self.first_seen_at = self.last_seen_at = 0.0
        self.hits = 0
        self.belt_box = np.zeros(4)
        self.last_box = np.zeros(4)
        self.last_along = 0.0
        self.seen_upstream = False
        self.first_along = 0.0
        self.counted_seq: int | None = None
        self.inferred = False
        self.evidence = Evidence(taxonomy)
        self.skus: dict[str, int] = {}
        self.best_score = -1.0
        self.best_seq = -1
        self.best_box = np.zeros(4)
        self.best_crop: bytes | None = None
        self.emitted = False
        self.ended_seq: int | None = None

    def to_state(self, include_crop: bool) -> dict[str, Any]:
        crop = self.best_crop if include_crop else None
        return {
            "id": self.id, "tracks": sorted(self.tracks), "first_seq": self.first_seq, "last_seq": self.last_seq,
            "first_seen_at": self.first_seen_at, "last_seen_at": self.last_seen_at, "hits": self.hits,
            "belt_box": self.belt_box.tolist(), "last_box": self.last_box.tolist(), "last_along": self.last_along,
            "seen_upstream": self.seen_upstream,
            "first_along": self.first_along, "counted_seq": self.counted_seq, "inferred": self.inferred,
            "evidence": self.evidence.to_state(), "skus": dict(self.skus), "best_score": self.best_score,
            "best_seq": self.best_seq, "best_box": self.best_box.tolist(),
            "best_crop": None if crop is None else base64.b64encode(crop).decode("ascii"),
            "emitted": self.emitted, "ended_seq": self.ended_seq,
        }

    @classmethod
    def from_state(cls, raw: Mapping[str, Any], taxonomy: Taxonomy) -> _Live:
        it = cls(int(raw["id"]), taxonomy)
        it.tracks = {int(t) for t in raw["tracks"]}
        it.first_seq, it.last_seq = int(raw["first_seq"]), int(raw["last_seq"])
        it.first_seen_at, it.last_seen_at = float(raw["first_seen_at"]), float(raw["last_seen_at"])
        it.hits = int(raw["hits"])
        it.belt_box = np.asarray(raw["belt_box"], dtype=np.float64).reshape(4)
        it.last_box = np.asarray(raw["last_box"], dtype=np.float64).reshape(4)
        it.last_along = float(raw["last_along"])
        it.seen_upstream, it.first_along = bool(raw["seen_upstream"]), float(raw["first_along"])
        it.counted_seq = None if raw["counted_seq"] is None else int(raw["counted_seq"])
        it.inferred = bool(raw["inferred"])
        it.evidence = Evidence.from_state(taxonomy, raw["evidence"])
        it.skus = {str(k): int(v) for k, v in raw["skus"].items()}
        it.best_score, it.best_seq = float(raw["best_score"]), int(raw["best_seq"])
        it.best_box = np.asarray(raw["best_box"], dtype=np.float64).reshape(4)
        it.best_crop = None if raw["best_crop"] is None else base64.b64decode(raw["best_crop"])
        it.emitted = bool(raw["emitted"])
        it.ended_seq = None if raw["ended_seq"] is None else int(raw["ended_seq"])
        return it


class CameraCounter:
    """Tracks one camera's detections and counts each item once as it crosses the camera's line."""

    def __init__(
        self,
        camera_id: str,
        taxonomy: Taxonomy,
        config: CounterConfig,
        model_version: str | None = None,
    ) -> None:
        config.flags.check(taxonomy)
        unknown = sorted(p for p in config.sku_produce.values() if p not in taxonomy.produce)
        if unknown:
            raise InputError(f"sku_produce maps to unknown produce kinds {unknown}; known: {list(taxonomy.produce)}")
        self.camera_id = camera_id
        self.taxonomy = taxonomy
        self.config = config
        self.model_version = model_version
        self.line = config.line
        self.tracker = BeltTracker(config.line.direction, config.tracker)
        self._items: dict[int, _Live] = {}
        self._owner: dict[int, int] = {}  # live track id -> item id
        self._frame_wh: tuple[int, int] | None = None

    # --- public API ----------------------------------------------------------------------------------------------

    @property
    def belt_speed(self) -> float:
        """The current belt speed estimate, px/frame along the belt."""
        return self.tracker.belt.speed

    def update(self, frame: Frame, dets: Detections) -> CountResult:
        """Track one frame's detections and return the items handed on plus the tracked boxes.

        Frames must come in increasing ``seq`` order (InputError otherwise); a gap in ``seq`` means frames that
        were never seen, and the belt is assumed to have moved on through them.
        """
        if frame.camera_id != self.camera_id:
            raise InputError(f"counter for camera {self.camera_id!r} got a frame of camera {frame.camera_id!r}")
        h, w = frame.image.shape[:2]
        self._frame_wh = (w, h)
        seq = frame.seq
        twin_of = twins(dets.xyxy, dets.confidence)
        kept = np.flatnonzero(twin_of < 0)
        step = self.tracker.update(seq, dets.xyxy[kept], dets.confidence[kept], (w, h))
        ids = np.full(len(dets), -1, dtype=np.int64)
        ids[kept] = step.track_ids
        for track_id in step.born:
            item = _Live(track_id, self.taxonomy)
            item.tracks.add(track_id)
            self._items[item.id] = item
            self._owner[track_id] = item.id
        seen_now = {self._owner[int(t)] for t in ids if t != -1}
        item_ids = np.full(len(dets), -1, dtype=np.int64)
        for det in np.flatnonzero(ids != -1):
            item = self._items[self._owner[int(ids[det])]]
            if not item.emitted:  # else a re-born track of an item already handed on: reported, never recounted
                item = self._observe(item, frame, dets, int(det), seen_now)
            item_ids[det] = item.id
        for det in np.flatnonzero(twin_of >= 0):
            # A second box on the same object (another produce kind survives per-produce NMS): one more class vote.
            twin_item = item_ids[twin_of[det]]
            if twin_item != -1 and not self._items[int(twin_item)].emitted:
                self._add_evidence(self._items[int(twin_item)], frame, dets, int(det))
        counted = [item for e in step.ended if (item := self._end_track(e, seq)) is not None]
        self._forget(seq)
        tracked = dets[item_ids != -1]
        tracked = Detections(
            tracked.xyxy, tracked.confidence, tracked.class_id, tracked.freshness, item_ids[item_ids != -1], tracked.data
        )
        return CountResult(counted=counted, tracked=tracked)

    def flush(self) -> list[Item]:
        """End of stream: end every track and hand on the counted items still in view."""
        seq = self.tracker.belt.last_seq or 0
        return [item for e in self.tracker.end_all() if (item := self._end_track(e, seq)) is not None]

    def state(self, include_crops: bool = True) -> dict[str, Any]:
        """A JSON-serialisable snapshot of everything the counter knows. ``include_crops=False`` leaves the live
        items' best crops out (a few KB each): after a restore such an item gets its crop from later frames."""
        return {
            "format": STATE_FORMAT,
            "camera_id": self.camera_id,
            "tracker": self.tracker.to_state(),
            "items": [it.to_state(include_crops) for it in self._items.values()],
            "owner": [[t, i] for t, i in self._owner.items()],
            "frame_wh": None if self._frame_wh is None else list(self._frame_wh),
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        """Replace this counter's state with a `state` snapshot (same camera; the config is this counter's).

        Raises InputError when the snapshot is of another camera, another format, or malformed.
        """
        if not isinstance(state, Mapping) or state.get("format") != STATE_FORMAT:
            got = state.get("format") if isinstance(state, Mapping) else type(state).__name__
            raise InputError(f"counter snapshot: expected format {STATE_FORMAT}, got {got!r}")
        if state.get("camera_id") != self.camera_id:
            raise InputError(f"counter snapshot is of camera {state.get('camera_id')!r}, not {self.camera_id!r}")
        try:
            items = [_Live.from_state(raw, self.taxonomy) for raw in state["items"]]
            owner = {int(t): int(i) for t, i in state["owner"]}
            wh = state["frame_wh"]
            frame_wh = None if wh is None else (int(wh[0]), int(wh[1]))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InputError(f"counter snapshot is malformed ({exc!r})") from exc
        self.tracker.load_state(state["tracker"])
        self._items = {it.id: it for it in items}
        self._owner = owner
        self._frame_wh = frame_wh

    # --- internals -----------------------------------------------------------------------------------------------

    def _known_item(self, box: np.ndarray, seq: int, exclude: set[int]) -> _Live | None:
        """The confirmed item, not seen this frame, that the belt has carried to where ``box`` is, if any."""
        candidates = [
            it for it in self._items.values()
            if it.id not in exclude and it.last_seq < seq
            and seq - it.last_seq <= min(self.config.memory, MEMORY_PER_HIT * it.hits)
            and it.hits >= self.config.min_hits  # a track seen once and gone is more likely a false positive
        ]
        if not candidates or self._frame_wh is None:
            return None
        w, h = self._frame_wh
        where = self.tracker.belt.to_image(np.array([it.belt_box for it in candidates]))
        where[:, [0, 2]] = np.clip(where[:, [0, 2]], 0, w)
        where[:, [1, 3]] = np.clip(where[:, [1, 3]], 0, h)
        b = np.asarray(box, dtype=np.float64)
        # Relative to the larger of the two boxes: a box cut by occlusion or the frame edge is still the same item.
        size = np.sqrt(np.maximum(np.maximum(_area(np.array([it.belt_box for it in candidates])), _area(b[None])), 1.0))
        dist = np.linalg.norm((where[:, :2] + where[:, 2:]) / 2 - (b[:2] + b[2:]) / 2, axis=1) / size
        iou = _iou(where, b)
        ok = ((dist <= self.config.dedup_gate) | (iou >= self.config.dedup_iou)) & (_area(where) > 0)
        if not ok.any():
            return None
        return candidates[int(np.argmin(np.where(ok, dist, np.inf)))]

    def _observe(self, item: _Live, frame: Frame, dets: Detections, det: int, seen_now: set[int]) -> _Live:
        """Record one sighting; when it confirms a new item, check it is not a known item re-born; count it if it
        crossed. Returns the item the sighting ended up with."""
        self._record(item, frame, dets, det)
        if item.hits == self.config.min_hits:
            # Checked at confirmation, not at birth: a one-frame false positive near a known item must not join it.
            known = self._known_item(item.last_box, frame.seq, seen_now)
            if known is not None:
                item = self._absorb(known, item)
                if item.emitted:
                    return item
        side = self.line.side(item.last_along)
        if side == UPSTREAM:
            item.seen_upstream = True
        elif (
            side == DOWNSTREAM
            and item.counted_seq is None
            and (
                (item.seen_upstream and item.hits >= self.config.min_hits)
                or (self._missed_upstream(item) and item.hits >= self.config.inferred_min_hits)
            )
            and self.line.spans(_centre(item.last_box))
        ):
            item.counted_seq = frame.seq
            item.inferred = not item.seen_upstream
        return item

    def _absorb(self, known: _Live, new: _Live) -> _Live:
        """A newly confirmed item is ``known`` seen again (the tracker lost it and started over): ``known`` takes
        over the new track and, unless it was already handed on, the new sightings."""
        for old in list(known.tracks):  # keep one track per item
            self.tracker.drop(old)
            self._owner.pop(old, None)
        known.tracks = set(new.tracks)
        for t in new.tracks:
            self._owner[t] = known.id
        del self._items[new.id]
        known.ended_seq = None
        if known.emitted:
            return known
        known.hits += new.hits
        known.last_seq, known.last_seen_at = new.last_seq, new.last_seen_at
        known.belt_box, known.last_box, known.last_along = new.belt_box, new.last_box, new.last_along
        known.seen_upstream |= new.seen_upstream
        known.evidence.absorb(new.evidence)
        for sku, n in new.skus.items():
            known.skus[sku] = known.skus.get(sku, 0) + n
        if new.best_score > known.best_score:
            known.best_score, known.best_seq, known.best_box, known.best_crop = (
                new.best_score, new.best_seq, new.best_box, new.best_crop
            )
        return known

    def _record(self, item: _Live, frame: Frame, dets: Detections, det: int) -> None:
        """Add one sighting to the item: where and when, class and freshness evidence, best view."""
        seq = frame.seq
        box = dets.xyxy[det].astype(np.float64)
        h, w = frame.image.shape[:2]
        along = float(self.line.along(_centre(box))[0])
        if item.hits == 0:
            item.first_seq, item.first_seen_at, item.first_along = seq, frame.captured_at, along
        item.hits += 1
        item.last_seq, item.last_seen_at = seq, frame.captured_at
        item.belt_box = self.tracker.belt.to_belt(box)[0]
        item.last_box, item.last_along = box, along
        if self.line.side(along) == UPSTREAM:
            item.seen_upstream = True
        self._add_evidence(item, frame, dets, det)

    def _add_evidence(self, item: _Live, frame: Frame, dets: Detections, det: int) -> None:
        """Add one box's class, freshness and view to the item's evidence."""
        seq = frame.seq
        box = dets.xyxy[det].astype(np.float64)
        h, w = frame.image.shape[:2]
        sku = frame.tags.get("sku")
        as_produce = None
        if sku:
            item.skus[sku] = item.skus.get(sku, 0) + 1
            as_produce = self._sku_produce(sku)
        scores = dets.data.get("class_scores")
        row = None if scores is None else np.asarray(scores[det], dtype=np.float32)
        freshness = float(dets.freshness[det])
        complete = _complete(box, w, h)
        conf = float(dets.confidence[det])
        item.evidence.add(int(dets.class_id[det]), conf, freshness, complete, row, as_produce)
        score = conf * (1.0 if complete else PARTIAL_WEIGHT)
        if score > item.best_score:
            item.best_score, item.best_seq, item.best_box = score, seq, box
            item.best_crop = self._crop(frame.image, box)
    def _missed_upstream(self, item: _Live) -> bool:
        """Whether an item first seen on or past the line was upstream ``infer_missed_frames`` frames of belt travel
        before that (with today's speed estimate, which at the first sighting may not have settled yet), while the
        stream was already running: the detector missed it there."""
        start = self.tracker.belt.first_seq
        back_frames = min(self.config.infer_missed_frames, item.first_seq - (item.first_seq if start is None else start))
        return back_frames > 0 and self.line.side(item.first_along - self.belt_speed * back_frames) == UPSTREAM

    def _sku_produce(self, sku: str) -> str | None:
        if sku in self.config.sku_produce:
            return self.config.sku_produce[sku]
        low = sku.strip().lower()
        return low if low in self.taxonomy.produce else None

    def _crop(self, image: np.ndarray, box: np.ndarray) -> bytes | None:
        h, w = image.shape[:2]
        pad = 0.1 * max(box[2] - box[0], box[3] - box[1])
        x0, y0 = int(max(0, box[0] - pad)), int(max(0, box[1] - pad))
        x1, y1 = int(min(w, box[2] + pad)), int(min(h, box[3] + pad))
        if x1 - x0 < 2 or y1 - y0 < 2:
            return None
        crop = image[y0:y1, x0:x1]
        scale = self.config.crop_max_side / max(crop.shape[:2])
        if scale < 1:
            crop = cv2.resize(crop, (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale))),
                              interpolation=cv2.INTER_AREA)
        quality = self.config.crop_quality
        while True:
            ok, buf = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, quality])
            if ok and (len(buf) <= MAX_CROP_BYTES or quality <= 30):
                return bytes(buf) if len(buf) <= MAX_CROP_BYTES else None
            quality -= 20

    def _end_track(self, ended: EndedTrack, seq: int) -> Item | None:
        """A track ended: if its item has no other live track, decide its count (inferring an exit crossing) and
        hand it on when counted."""
        item_id = self._owner.pop(ended.track_id, None)
        if item_id is None:
            return None
        item = self._items[item_id]
        item.tracks.discard(ended.track_id)
        if item.tracks:
            return None
        item.ended_seq = seq
        if item.emitted:
            return None
        if (
            item.counted_seq is None
            and ended.reason == "exited"
            and (item.seen_upstream or self._missed_upstream(item))
            and item.hits >= self.config.inferred_min_hits
            and self._crossing_unseen(item)
        ):
            item.counted_seq = seq
            item.inferred = True
        if item.counted_seq is None:
            return None
        item.emitted = True
        return self._item(item)

    def _crossing_unseen(self, item: _Live) -> bool:
        """Whether an item carried out of the view downstream crossed the line where we could not see it: it was
        last seen at most ``infer_missed_frames`` frames of belt travel before the line, or the line is so close to
        the frame edge that the item's box is cut by the edge while its centre is on the line."""
        if self._frame_wh is None:
            return False
        if item.last_along >= 0:  # last seen on the line (inside the hysteresis band)
            return True
        speed = self.belt_speed
        if speed > 0 and -item.last_along / speed <= self.config.infer_missed_frames:
            return True
        w, h = self._frame_wh
        corners = np.array([[0, 0], [w, 0], [0, h], [w, h]], dtype=np.float64)
        room = float(self.line.along(corners).max())  # belt travel from the line to the frame's downstream border
        geo = box_geometry(item.last_box[None, :], self.line.direction, (w, h))
        half_length = float(geo.down[0] - geo.up[0]) / 2
        return half_length >= room - EDGE_MARGIN_PX

    def _item(self, item: _Live) -> Item:
        produce = None
        if item.skus:
            sku = max(item.skus.items(), key=lambda kv: (kv[1], kv[0]))[0]
            produce = self._sku_produce(sku)
        verdict = item.evidence.verdict(self.config.flags, produce_override=produce)
        return Item(
            camera_id=self.camera_id,
            track_id=item.id,
            first_seq=item.first_seq,
            last_seq=item.last_seq,
            first_seen_at=item.first_seen_at,
            last_seen_at=item.last_seen_at,
            counted_seq=int(item.counted_seq or 0),
            produce=verdict.produce,
            condition=verdict.condition,
            freshness=verdict.freshness,
            flagged=verdict.flagged,
            votes=verdict.votes,
            frames=item.hits,
            best_box=tuple(float(v) for v in item.best_box),  # type: ignore[arg-type]
            best_seq=item.best_seq,
            sku=max(item.skus.items(), key=lambda kv: (kv[1], kv[0]))[0] if item.skus else None,
            model_version=self.model_version,
            best_crop_jpeg=item.best_crop if verdict.flagged else None,
            inferred=item.inferred,
        )

    def _forget(self, seq: int) -> None:
        """Drop ended items older than ``memory`` frames (kept until then to recognise a re-born track)."""
        stale = [
            i for i, it in self._items.items()
            if not it.tracks and it.ended_seq is not None and seq - it.last_seq > self.config.memory
        ]
        for i in stale:
            del self._items[i]


def twins(xyxy: np.ndarray, confidence: np.ndarray, iou: float = TWIN_IOU, ios: float = TWIN_IOS) -> np.ndarray:
    """For each box, the index of a more confident box on the same object, or -1 when it is its object's best.

    Same object: IoU >= ``iou``, or the smaller box lies >= ``ios`` inside the larger (a part detected alone).
    The detector's NMS runs per produce kind, so an item the model is unsure about can come as an apple box and an
    orange box; tracking both would make two items out of one.
    """
    b = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    out = np.full(len(b), -1, dtype=np.int64)
    if len(b) < 2:
        return out
    area = _area(b)
    ix = np.clip(np.minimum(b[:, None, 2], b[None, :, 2]) - np.maximum(b[:, None, 0], b[None, :, 0]), 0, None)
    iy = np.clip(np.minimum(b[:, None, 3], b[None, :, 3]) - np.maximum(b[:, None, 1], b[None, :, 1]), 0, None)
    inter = ix * iy
    same = (inter / np.maximum(area[:, None] + area[None, :] - inter, 1e-9) >= iou) | (
        inter / np.maximum(np.minimum(area[:, None], area[None, :]), 1e-9) >= ios
    )
    order = np.argsort(-np.asarray(confidence, dtype=np.float64), kind="stable")
    kept: list[int] = []
    for i in order:
        owner = next((k for k in kept if same[i, k]), None)
        if owner is None:
            kept.append(int(i))
        else:
            out[i] = owner
    return out


def _centre(box: np.ndarray) -> np.ndarray:
    return (box[:2] + box[2:]) / 2


def _complete(box: np.ndarray, w: int, h: int) -> bool:
    m = EDGE_MARGIN_PX
    return bool(box[0] > m and box[1] > m and box[2] < w - m and box[3] < h - m)


def _area(boxes: np.ndarray) -> np.ndarray:
    return np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)


def _iou(boxes: np.ndarray, box: np.ndarray) -> np.ndarray:
    ix = np.clip(np.minimum(boxes[:, 2], box[2]) - np.maximum(boxes[:, 0], box[0]), 0, None)
    iy = np.clip(np.minimum(boxes[:, 3], box[3]) - np.maximum(boxes[:, 1], box[1]), 0, None)
    inter = ix * iy
    union = _area(boxes) + (box[2] - box[0]) * (box[3] - box[1]) - inter
    return inter / np.maximum(union, 1e-9)
