"""`BeltTracker`: multi-object tracking for one camera over a conveyor, with the belt's motion as the prior.

Why this design, and which library:

* The motion model is the `trackers` package's (Roboflow's maintained home of ByteTrack/SORT/OC-SORT since
  supervision 0.27 dropped ``sv.ByteTrack``): each track is a `trackers` ``ByteTrackTracklet``, i.e. ByteTrack's
  constant-velocity Kalman filter on the box corners with ByteTrack's noise tuning, and the overlap is the
  library's ``IoU``. Both are well tested upstream, and the Kalman state has a public ``get_state``/``set_state``,
  which is what makes an exact checkpoint possible.
* The association is ByteTrack's (high-confidence boxes first, then the low-confidence ones against the tracks
  left over, Hungarian matching on IoU), run in *belt coordinates* (`edge.tracking.belt`): the belt offset is
  subtracted from every box, so items stand still, and each prediction is shifted back into the image and cut to
  the frame before it is compared with the (equally cut) detections. At 15 fps and 2.5 m/s an item moves ~170 px
  per frame and two consecutive boxes of it do not overlap at all; plain ByteTrack (Kalman velocity starting at
  zero) then starts a new track every frame. Here they overlap almost perfectly.
* We do not call ``trackers.ByteTrackTracker.update`` itself because (1) it reports a new track only from its
  second matched frame (``tracker_id`` is -1 before), and at belt speed the first sighting is often the only one
  upstream of the counting line, so the crossing would be lost; (2) it has no hook to shift predictions by a
  motion prior that is not a camera homography; (3) it has no state export. A third, ByteTrack-less stage matches
  tracks left over to high-confidence boxes by centre distance (after the belt shift), which catches a box that
  changed shape (an item half out of the frame) or a belt speed estimate that is briefly off.

A track *ends* when its belt-extrapolated box has left the frame downstream (``exited``: it is gone, no need to wait)
or after ``max_lost`` frames without a match (``lost``). The tracker knows nothing of counting lines or items;
`edge.tracking.counter` builds those on top.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy.optimize import linear_sum_assignment
from trackers.core.bytetrack.tracklet import ByteTrackTracklet
from trackers.utils.iou import IoU

from edge.tracking.belt import BeltConfig, BeltMotion, box_geometry
from vision.errors import InputError

EndReason = Literal["exited", "lost", "dropped"]
_KF_KEYS = ("state", "state_covariance")
_IOU = IoU()


@dataclass(frozen=True)
class TrackerConfig:
    """Association settings.

    ``high_conf``: boxes at or above match first (ByteTrack's first stage); ``low_conf``: boxes below are ignored,
    those in between only continue existing tracks. ``new_track_conf``: the least confidence that starts a track.
    ``match_iou``: the least IoU for a match. ``centre_gate``: the third stage's largest centre distance, as a share
    of the larger box's size. ``max_lost``: frames a confirmed track survives unmatched, but no more than
    ``lost_per_hit`` per time it was matched (a track made of a few scattered false positives must not live long
    enough to collect more); a tentative one, seen once, survives ``max_lost_tentative``. ``exit_visible``: a track
    has exited once less than this share of its extrapolated box is inside the frame on the downstream side.
    """

    high_conf: float = 0.3
    low_conf: float = 0.1
    new_track_conf: float = 0.3
    match_iou: float = 0.3
    centre_gate: float = 0.5
    max_lost: int = 30
    lost_per_hit: int = 5
    max_lost_tentative: int = 2
    exit_visible: float = 0.25
    belt: BeltConfig = BeltConfig()

    def __post_init__(self) -> None:
        for name in ("high_conf", "low_conf", "new_track_conf", "match_iou", "exit_visible"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise InputError(f"tracker {name} must be within [0, 1], got {value}")
        if self.low_conf > self.high_conf:
            raise InputError(f"tracker low_conf {self.low_conf} is above high_conf {self.high_conf}")
        if self.centre_gate <= 0:
            raise InputError(f"tracker centre_gate must be > 0, got {self.centre_gate}")
        if self.max_lost < 0 or self.max_lost_tentative < 0 or self.lost_per_hit < 1:
            raise InputError("tracker max_lost and max_lost_tentative must be >= 0 frames, lost_per_hit >= 1")


@dataclass(frozen=True)
class EndedTrack:
    """A track that ended this frame, and why."""

    track_id: int
    reason: EndReason


@dataclass(frozen=True)
class TrackStep:
    """One frame's tracking: ``track_ids`` per input detection (-1: not tracked), tracks born and ended."""

    track_ids: np.ndarray
    born: tuple[int, ...]
    ended: tuple[EndedTrack, ...]


class _Track:
    """One live track: the library tracklet (belt coordinates) plus what the counter needs to know about it."""

    def __init__(self, track_id: int, belt_box: np.ndarray, seq: int) -> None:
        self.id = track_id
        self.tracklet = ByteTrackTracklet(initial_bbox=np.asarray(belt_box, dtype=np.float64))
        self.hits = 1
        self.first_seq = seq
        self.last_seq = seq
        self.last_belt_box = np.asarray(belt_box, dtype=np.float64)

    def to_state(self) -> dict[str, Any]:
        t = self.tracklet
        return {
            "id": self.id,
            "hits": self.hits,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "last_belt_box": self.last_belt_box.tolist(),
            "age": t.age,
            "time_since_update": t.time_since_update,
            "consecutive": t.number_of_successful_consecutive_updates,
            # The filter's matrices are rebuilt from the noise settings on every predict; its state and covariance
            # are all that a snapshot needs.
            "kf": {k: np.asarray(v).tolist() for k, v in t.state_estimator.get_state().items() if k in _KF_KEYS},
        }

    @classmethod
    def from_state(cls, raw: Mapping[str, Any]) -> _Track:
        track = cls(int(raw["id"]), np.asarray(raw["last_belt_box"], dtype=np.float64), int(raw["first_seq"]))
        track.hits = int(raw["hits"])
        track.last_seq = int(raw["last_seq"])
        t = track.tracklet
        t.age = int(raw["age"])
        t.time_since_update = int(raw["time_since_update"])
        t.number_of_successful_consecutive_updates = int(raw["consecutive"])
        kf = t.state_estimator.get_state()
        kf.update({k: np.asarray(raw["kf"][k], dtype=np.float64) for k in _KF_KEYS})
        t.state_estimator.set_state(kf)
        return track


class BeltTracker:
    """Tracks boxes of one camera across frames; ids are ints from 1, never reused."""

    def __init__(self, direction: np.ndarray, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        self.belt = BeltMotion(direction, self.config.belt)
        self._tracks: list[_Track] = []
        self._next_id = 1

    # --- queries the counter uses ------------------------------------------------------------------------------

    @property
    def direction(self) -> np.ndarray:
        """Unit vector of belt motion in the image."""
        return self.belt.direction

    @property
    def live_ids(self) -> list[int]:
        """Ids of the live tracks."""
        return [t.id for t in self._tracks]

    def drop(self, track_id: int) -> None:
        """Forget a live track (the counter found it is the same item as a newer one)."""
        self._tracks = [t for t in self._tracks if t.id != track_id]

    # --- the step ------------------------------------------------------------------------------------------------

    def update(self, seq: int, xyxy: np.ndarray, confidence: np.ndarray, frame_wh: tuple[int, int]) -> TrackStep:
        """Track one frame's boxes (image pixels, (N, 4)) with their confidences; ``seq`` must increase."""
        cfg = self.config
        boxes = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
        conf = np.asarray(confidence, dtype=np.float64).reshape(-1)
        if len(conf) != len(boxes):
            raise InputError(f"tracker: {len(boxes)} boxes but {len(conf)} confidences")
        last = self.belt.last_seq
        if last is not None and seq <= last:
            raise InputError(f"tracker: frame seq {seq} does not follow {last} (frames of a camera must be in order)")
        dt = 1 if last is None else seq - last
        usable = conf >= cfg.low_conf
        self.belt.observe(seq, boxes[usable & (conf >= cfg.high_conf)], frame_wh)
        for t in self._tracks:
            for _ in range(min(dt, cfg.max_lost + 1)):
                t.tracklet.predict()

        ids = np.full(len(boxes), -1, dtype=np.int64)
        high = np.flatnonzero(usable & (conf >= cfg.high_conf))
        low = np.flatnonzero(usable & (conf < cfg.high_conf))
        pending = list(range(len(self._tracks)))
        w, h = frame_wh
        clip = np.array([0, 0, w, h], dtype=np.float64)
        predicted = self._predicted_image_boxes(clip)

        for dets, stage in ((high, "iou"), (low, "iou"), (high, "centre")):
            free = [int(i) for i in dets if ids[i] == -1]
            if not free or not pending:
                continue
            if stage == "iou":
                score = _IOU.compute(predicted[pending], boxes[free])
                rows, cols = linear_sum_assignment(score, maximize=True)
                ok = score[rows, cols] >= cfg.match_iou
            else:
                # Only confirmed tracks: a loose gate around a track seen once would chain false positives together.
                score = self._centre_distance([self._tracks[i] for i in pending], boxes[free], clip)
                confirmed = np.array([self._tracks[i].hits > 1 for i in pending])
                score = np.where(confirmed[:, None], score, 1e6)
                rows, cols = linear_sum_assignment(score)
                ok = score[rows, cols] <= cfg.centre_gate
            matched_tracks = set()
            for r, c in zip(rows[ok], cols[ok]):
                track = self._tracks[pending[r]]
                det = free[c]
                belt_box = self.belt.to_belt(boxes[det])[0]
                track.tracklet.update(belt_box)
                track.hits += 1
                track.last_seq = seq
                track.last_belt_box = belt_box
                ids[det] = track.id
                matched_tracks.add(pending[r])
            pending = [i for i in pending if i not in matched_tracks]

        born = []
        for det in high:
            if ids[det] == -1 and conf[det] >= cfg.new_track_conf:
                track = _Track(self._next_id, self.belt.to_belt(boxes[det])[0], seq)
                self._next_id += 1
                self._tracks.append(track)
                ids[det] = track.id
                born.append(track.id)

        ended = self._end_tracks(seq, clip)
        return TrackStep(track_ids=ids, born=tuple(born), ended=tuple(ended))

    def _predicted_image_boxes(self, clip: np.ndarray) -> np.ndarray:
        if not self._tracks:
            return np.zeros((0, 4))
        belt_boxes = np.array([t.tracklet.get_state_bbox() for t in self._tracks], dtype=np.float64)
        return _clip(self.belt.to_image(belt_boxes), clip)

    def _centre_distance(self, tracks: list[_Track], boxes: np.ndarray, clip: np.ndarray) -> np.ndarray:
        """Centre distance between each track's belt-extrapolated last box (cut to the frame) and each box, as a
        share of the larger box's size (huge where the extrapolated box is out of the frame)."""
        last = _clip(self.belt.to_image(np.array([t.last_belt_box for t in tracks])), clip)
        # Relative to the larger of the two boxes: a box cut by occlusion or the frame edge is still the same item.
        size = np.sqrt(np.maximum(np.maximum(_area(np.array([t.last_belt_box for t in tracks]))[:, None],
                                             _area(boxes)[None, :]), 1.0))
        ca = (last[:, :2] + last[:, 2:]) / 2
        cb = (boxes[:, :2] + boxes[:, 2:]) / 2
        dist = np.linalg.norm(ca[:, None, :] - cb[None, :, :], axis=2) / size
        return np.where(_area(last)[:, None] > 0, dist, 1e6)  # finite: the Hungarian solver rejects inf

    def _end_tracks(self, seq: int, clip: np.ndarray) -> list[EndedTrack]:
        cfg = self.config
        ended: list[EndedTrack] = []
        keep: list[_Track] = []
        if self._tracks:
            extrapolated = self.belt.to_image(np.array([t.last_belt_box for t in self._tracks]))
            geo = box_geometry(extrapolated, self.direction, (int(clip[2]), int(clip[3])))
            frame = box_geometry(clip[None, :], self.direction, (int(clip[2]), int(clip[3])))
            length = np.maximum(geo.down - geo.up, 1.0)
            inside = np.clip(frame.down[0] - geo.up, 0.0, None) / length
        for i, t in enumerate(self._tracks):
            missed = seq - t.last_seq
            if missed > 0 and inside[i] < cfg.exit_visible:
                ended.append(EndedTrack(t.id, "exited"))
            elif missed > (min(cfg.max_lost, cfg.lost_per_hit * t.hits) if t.hits > 1 else cfg.max_lost_tentative):
                ended.append(EndedTrack(t.id, "lost"))
            else:
                keep.append(t)
        self._tracks = keep
        return ended

    def end_all(self) -> list[EndedTrack]:
        """End every live track (end of stream)."""
        ended = [EndedTrack(t.id, "dropped") for t in self._tracks]
        self._tracks = []
        return ended

    # --- checkpoint ---------------------------------------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        """JSON-serialisable snapshot: belt motion, live tracks (with their Kalman state), the id counter."""
        return {"belt": self.belt.to_state(), "next_id": self._next_id, "tracks": [t.to_state() for t in self._tracks]}

    def load_state(self, raw: Mapping[str, Any]) -> None:
        """Restore a `to_state` snapshot; raises InputError when it is malformed."""
        try:
            self.belt.load_state(raw["belt"])
            self._next_id = int(raw["next_id"])
            self._tracks = [_Track.from_state(t) for t in raw["tracks"]]
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InputError(f"tracker snapshot is malformed ({exc!r})") from exc


def _clip(boxes: np.ndarray, clip: np.ndarray) -> np.ndarray:
    out = boxes.copy()
    out[:, [0, 2]] = np.clip(out[:, [0, 2]], clip[0], clip[2])
    out[:, [1, 3]] = np.clip(out[:, [1, 3]], clip[1], clip[3])
    return out


def _area(boxes: np.ndarray) -> np.ndarray:
    return np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)
