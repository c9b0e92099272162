"""`CameraCounter`: one camera's tracker and counting line; every item that rides across the line is counted once.

Counting rules (each guards against a way peer line counters fail):

* An item counts when its box centre is seen upstream of the line and later downstream, in the belt's direction
  only; it counts at most once, ever. A box jittering across the line, or a track running backwards, cannot count
  twice or count the wrong way (supervision #2600, #1720; ultralytics #3823).
* Items are the counter's, tracks the tracker's. When a new track is confirmed (its ``min_hits``-th sighting)
  where the belt motion says an item we already know should be now (the item's last box in belt coordinates,
  carried forward by the belt), it is that item again, not a new one: its sightings join the item, or, if the item
  was already handed on, it is reported under the item's id and never counted. So a tracker id switch mid-view
  never counts an item twice (ultralytics #9197, PR #9998). Checking at confirmation rather than at birth keeps a
  one-frame false positive near a lost item from joining it.
* Two boxes on one object (per-produce NMS lets an unsure model say "apple" and "orange" for the same item) are
  one sighting: the surer box is tracked, the other adds its class vote (`edge.tracking.boxes.twins`).
* Crossings that were not seen are inferred from the belt motion: a track that leaves the frame downstream before
  it was ever observed beyond a line near the frame edge counts when it exits (supervision #1838); a track first
  seen on or past the line whose belt-extrapolated position ``infer_missed_frames`` frames earlier was upstream
  counts too (the detector missed the frames in between, or the line sits at the upstream edge). An item already
  past the line when the stream started (seen first downstream in the first frames, or still downstream when
  carried back) crossed before we looked and is not counted. Inferred counts need ``inferred_min_hits``
  sightings, so a false positive that happens to line up with the belt once does not count.
* An item's class is a vote over its frames and its freshness a weighted median (`edge.tracking.aggregate`), so
  a flickering class (fresh → bruised → fresh) does not change what it is. When the served model version has a
  grader, the item keeps its few best views as the grader's crops (`edge.tracking.views`) and the grader scores them
  once, when the item is handed on (`edge.tracking.grading`).

A counted item is handed on (in `CountResult.counted`) when its track ends — it left the view, or was lost for
``max_lost`` frames — so its produce and freshness cover all its frames; ``counted_seq`` records when it crossed.
`flush` hands on the counted items still in view at the end of a stream.

`state`/`restore` snapshot everything (belt motion, tracks and their Kalman filters, items) as JSON, so a service
that checkpoints after each frame resumes exactly where it stopped and never counts an item twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from edge.tracking.aggregate import NO_DISCOUNT, PARTIAL_WEIGHT, Evidence, FlagPolicy
from edge.tracking.belt import EDGE_MARGIN_PX, box_geometry
from edge.tracking.boxes import area, centre, complete, iou, overlap_of_smaller, twins
from edge.tracking.crop import encode_crop
from edge.tracking.grading import ItemGrader
from edge.tracking.handoff import hand_on, sku_produce
from edge.tracking.item import Item
from edge.tracking.line import DOWNSTREAM, UPSTREAM, CountingLine
from edge.tracking.record import ItemRecord
from edge.tracking.tracker import BeltTracker, EndedTrack, TrackerConfig
from edge.tracking.views import keep_best, offer, view_of
from vision.detections import Detections
from vision.errors import InputError
from vision.frame import Frame
from vision.model_card import check_spoiled_vote
from vision.taxonomy import Taxonomy

STATE_FORMAT = 1
SHADOW_IOS = 0.6  # a new track whose box lies this much inside an older item's box in the same frame is that item
MEMORY_PER_HIT = 10  # frames an ended item is remembered per sighting: a blip is forgotten sooner than a real item


@dataclass(frozen=True)
class CounterConfig:
    """One camera's counting settings.

    ``min_hits``: observations an item needs before any count; ``inferred_min_hits`` before a count whose
    crossing was not seen but inferred (a few false positives can line up with the belt by chance).
    ``infer_missed_frames``: how many missed frames before its first sighting a track born downstream may be assumed
    to have been upstream (0: never infer). ``dedup_gate``: a newly confirmed track is a known item when its box
    centre is within this share of the larger box's size of where the belt has carried the item (or the two overlap
    with IoU >= ``dedup_iou``). ``memory``: frames an ended item is remembered for that (at most `MEMORY_PER_HIT`
    per sighting). ``sku_produce``: warehouse SKU -> produce kind (a SKU that is itself a produce name needs no
    entry). ``spoiled_vote``: a produce-vote calibration that replaces the served model's (its card's ``spoiled_vote``,
    given to the counter with the model); None: the model's own.
    ``crop_max_side``/``crop_quality``: the best crop's size and JPEG quality.
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
    spoiled_vote: Mapping[str, float] | None = None
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
        if self.spoiled_vote is not None:
            check_spoiled_vote(self.spoiled_vote)
        if not 16 <= self.crop_max_side <= 1024 or not 10 <= self.crop_quality <= 100:
            raise InputError("counter crop_max_side must be within [16, 1024] and crop_quality within [10, 100]")


@dataclass(frozen=True)
class CountResult:
    """One frame's outcome: items handed on (counted, track ended) and the frame's tracked boxes (``tracker_id`` is
    the item id)."""

    counted: list[Item]
    tracked: Detections


class CameraCounter:
    """Tracks one camera's detections and counts each item once as it crosses the camera's line."""

    def __init__(
        self,
        camera_id: str,
        taxonomy: Taxonomy,
        config: CounterConfig,
        model_version: str | None = None,
        model_spoiled_vote: Mapping[str, float] = NO_DISCOUNT,
        grader: ItemGrader | None = None,
    ) -> None:
        config.flags.check(taxonomy)
        if config.spoiled_vote is not None:
            check_spoiled_vote(config.spoiled_vote, taxonomy.produce)
        unknown = sorted(p for p in config.sku_produce.values() if p not in taxonomy.produce)
        if unknown:
            raise InputError(f"sku_produce maps to unknown produce kinds {unknown}; known: {list(taxonomy.produce)}")
        self.camera_id = camera_id
        self.taxonomy = taxonomy
        self.config = config
        self.model_version: str | None = None
        self.spoiled_vote: Mapping[str, float] = NO_DISCOUNT
        self.grader: ItemGrader | None = None
        self.serve(model_version, model_spoiled_vote, grader)
        self.line = config.line
        self.tracker = BeltTracker(config.line.direction, config.tracker)
        self._items: dict[int, ItemRecord] = {}
        self._owner: dict[int, int] = {}  # live track id -> item id
        self._frame_wh: tuple[int, int] | None = None
        self._start: int | None = None  # first seq of the stream, or since the last flush: nothing before is ours
        self.vetoed = 0  # counted items the grader called no produce, never handed on (`edge.tracking.handoff`)

    # --- public API ----------------------------------------------------------------------------------------------

    def serve(
        self, model_version: str | None, model_spoiled_vote: Mapping[str, float] = NO_DISCOUNT,
        grader: ItemGrader | None = None,
    ) -> None:
        """Items handed on from now on carry ``model_version`` and have their produce decided with that model's
        calibration (its card's ``spoiled_vote``), unless the config names one, and are graded by that version's
        ``grader`` (None: the detector alone). Called when the service swaps models. InputError when the calibration
        names a produce kind the counter's taxonomy lacks."""
        if self.config.spoiled_vote is None:
            check_spoiled_vote(model_spoiled_vote, self.taxonomy.produce)
            self.spoiled_vote = MappingProxyType(dict(model_spoiled_vote))
        else:
            self.spoiled_vote = MappingProxyType(dict(self.config.spoiled_vote))
        self.model_version = model_version
        self.grader = grader

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
        last = self.tracker.belt.last_seq
        if last is not None and seq <= last:  # checked here too, before anything is touched
            raise InputError(f"counter: frame seq {seq} does not follow {last} (frames of a camera must be in order)")
        if self._start is None:
            self._start = seq
        twin_of = twins(dets.xyxy, dets.confidence)
        kept = np.flatnonzero(twin_of < 0)
        step = self.tracker.update(seq, dets.xyxy[kept], dets.confidence[kept], (w, h))
        ids = np.full(len(dets), -1, dtype=np.int64)
        ids[kept] = step.track_ids
        for track_id in step.born:
            item = ItemRecord(track_id, self.taxonomy)
            item.tracks.add(track_id)
            self._items[item.id] = item
            self._owner[track_id] = item.id
        seen_now = {self._owner[int(ids[d])]: dets.xyxy[d].astype(np.float64) for d in np.flatnonzero(ids != -1)}
        item_ids = np.full(len(dets), -1, dtype=np.int64)
        for det in np.flatnonzero(ids != -1):
            item: ItemRecord | None = self._items[self._owner[int(ids[det])]]
            if not item.emitted:  # else a re-born track of an item already handed on: reported, never recounted
                item = self._observe(item, frame, dets, int(det), seen_now)
            if item is not None:
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
            tracked.xyxy, tracked.confidence, tracked.class_id, tracked.freshness, item_ids[item_ids != -1],
            tracked.data,
        )
        return CountResult(counted=counted, tracked=tracked)

    def flush(self) -> list[Item]:
        """End of stream: end every track and hand on the counted items still in view. Frames may follow (a camera
        that was idle): the counter then starts over as at the start of a stream — what it sees first past the line
        is not assumed to have crossed it while nobody looked — but still recognises the items it knew."""
        last = self.tracker.belt.last_seq
        seq = 0 if last is None else last
        self._start = None
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
            "start": self._start,
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
            items = [ItemRecord.from_state(raw, self.taxonomy) for raw in state["items"]]
            owner = {int(t): int(i) for t, i in state["owner"]}
            wh = state["frame_wh"]
            frame_wh = None if wh is None else (int(wh[0]), int(wh[1]))
            start = None if state["start"] is None else int(state["start"])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InputError(f"counter snapshot is malformed ({exc!r})") from exc
        self.tracker.load_state(state["tracker"])
        self._items = {it.id: it for it in items}
        self._owner = owner
        self._frame_wh = frame_wh
        self._start = start

    # --- internals -----------------------------------------------------------------------------------------------

    def _known_item(self, box: np.ndarray, seq: int, exclude: set[int]) -> ItemRecord | None:
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
        size = np.sqrt(np.maximum(np.maximum(area(np.array([it.belt_box for it in candidates])), area(b[None])), 1.0))
        dist = np.linalg.norm((where[:, :2] + where[:, 2:]) / 2 - (b[:2] + b[2:]) / 2, axis=1) / size
        overlap = iou(where, b)
        ok = ((dist <= self.config.dedup_gate) | (overlap >= self.config.dedup_iou)) & (area(where) > 0)
        if not ok.any():
            return None
        return candidates[int(np.argmin(np.where(ok, dist, np.inf)))]

    def _observe(
        self, item: ItemRecord, frame: Frame, dets: Detections, det: int, seen_now: dict[int, np.ndarray]
    ) -> ItemRecord | None:
        """Record one sighting; when it confirms a new item, check it is neither a second track on an item in view
        nor a known item re-born; count it if it crossed. Returns the item the sighting ended up with (None: it
        was folded into another item in view and is not reported)."""
        self._record(item, frame, dets, det)
        if item.hits == self.config.min_hits:
            # Checked at confirmation, not at birth: a one-frame false positive near a known item must not join it.
            twin = self._twin_in_view(item, seen_now)
            if twin is not None:
                self._fold(twin, item)
                return None
            known = self._known_item(item.last_box, frame.seq, set(seen_now))
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
            and self.line.spans(centre(item.last_box))
        ):
            item.counted_seq = frame.seq
            item.inferred = not item.seen_upstream
        return item

    def _twin_in_view(self, item: ItemRecord, seen_now: dict[int, np.ndarray]) -> ItemRecord | None:
        """An older item seen in this frame whose box mostly covers this newly confirmed item's box: the model
        keeps drawing two boxes on one object (a long diagonal banana split in two) and they slipped past `twins`."""
        best, best_overlap = None, SHADOW_IOS
        for other_id, other_box in seen_now.items():
            other = self._items.get(other_id)
            if other is None or other is item or other.emitted:
                continue
            # The older one stays, whatever the order the boxes come in (-1: born this frame, not recorded yet).
            if other.first_seq < 0 or (other.first_seq, other.id) > (item.first_seq, item.id):
                continue
            overlap = overlap_of_smaller(item.last_box, other_box)
            if overlap >= best_overlap:
                best, best_overlap = other, overlap
        return best

    def _fold(self, into: ItemRecord, item: ItemRecord) -> None:
        """``item`` was a second track on ``into``: keep its class votes, drop the track and the item."""
        into.evidence.absorb(item.evidence)
        into.views = keep_best(into.views, item.views)
        for t in item.tracks:
            self.tracker.drop(t)
            self._owner.pop(t, None)
        del self._items[item.id]

    def _absorb(self, known: ItemRecord, new: ItemRecord) -> ItemRecord:
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
        known.views = keep_best(known.views, new.views)
        for sku, n in new.skus.items():
            known.skus[sku] = known.skus.get(sku, 0) + n
        if new.best_score > known.best_score:
            known.best_score, known.best_seq, known.best_box, known.best_crop = (
                new.best_score, new.best_seq, new.best_box, new.best_crop
            )
        return known

    def _record(self, item: ItemRecord, frame: Frame, dets: Detections, det: int) -> None:
        """Add one sighting to the item: where and when, class and freshness evidence, best view."""
        seq = frame.seq
        box = dets.xyxy[det].astype(np.float64)
        along = float(self.line.along(centre(box))[0])
        if item.hits == 0:
            item.first_seq, item.first_seen_at, item.first_along = seq, frame.captured_at, along
        item.hits += 1
        item.last_seq, item.last_seen_at = seq, frame.captured_at
        item.belt_box = self.tracker.belt.to_belt(box)[0]
        item.last_box, item.last_along = box, along
        if self.line.side(along) == UPSTREAM:
            item.seen_upstream = True
        self._add_evidence(item, frame, dets, det)

    def _add_evidence(self, item: ItemRecord, frame: Frame, dets: Detections, det: int) -> None:
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
        whole = complete(box, w, h)
        conf = float(dets.confidence[det])
        item.evidence.add(int(dets.class_id[det]), conf, freshness, whole, row, as_produce)
        score = conf * (1.0 if whole else PARTIAL_WEIGHT)
        if score > item.best_score:
            item.best_score, item.best_seq, item.best_box = score, seq, box
            item.best_crop = encode_crop(frame.image, box, self.config.crop_max_side, self.config.crop_quality)
        grader = self.grader
        if grader is not None:  # cropped only when it ranks among the item's best views
            item.views = offer(item.views, score, seq,
                               lambda: view_of(frame.image, box, grader.input_size, grader.crop_pad))

    def _missed_upstream(self, item: ItemRecord) -> bool:
        """Whether an item first seen on or past the line was upstream ``infer_missed_frames`` frames of belt travel
        before that (with today's speed estimate, which at the first sighting may not have settled yet), while the
        stream was already running: the detector missed it there."""
        start = self._start
        since_start = item.first_seq - (item.first_seq if start is None else start)
        back_frames = min(self.config.infer_missed_frames, since_start)
        return back_frames > 0 and self.line.side(item.first_along - self.belt_speed * back_frames) == UPSTREAM

    def _sku_produce(self, sku: str) -> str | None:
        return sku_produce(sku, self.config.sku_produce, self.taxonomy)

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
        item.emitted = True  # also when vetoed: a re-born track of clutter is not counted either
        handed_on = self._item(item)
        if handed_on is None:
            self.vetoed += 1
        # Kept only to recognise a re-born track now: the evidence and crop went out with the Item.
        item.evidence, item.best_crop, item.skus, item.views = Evidence(self.taxonomy), None, {}, ()
        return handed_on

    def _crossing_unseen(self, item: ItemRecord) -> bool:
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

    def _item(self, item: ItemRecord) -> Item | None:
        return hand_on(item, self.camera_id, self.config.flags, self.config.sku_produce, self.spoiled_vote,
                       self.model_version, self.grader)

    def _forget(self, seq: int) -> None:
        """Drop ended items that can no longer come back: older than ``memory`` frames, or carried by the belt out
        of the view (no track can be born on them any more). Until then they are kept to recognise a re-born track."""
        ended = [it for it in self._items.values() if not it.tracks and it.ended_seq is not None]
        if not ended:
            return
        gone = np.zeros(len(ended), dtype=bool)
        if self._frame_wh is not None:
            w, h = self._frame_wh
            where = self.tracker.belt.to_image(np.array([it.belt_box for it in ended]))
            gone = (where[:, 0] >= w) | (where[:, 2] <= 0) | (where[:, 1] >= h) | (where[:, 3] <= 0)
        for it, out_of_view in zip(ended, gone):
            if out_of_view or seq - it.last_seq > self.config.memory:
                del self._items[it.id]
