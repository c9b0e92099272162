"""`BeltMotion`: the belt's speed, estimated online from the detections alone, and the belt offset it integrates to.

Everything on a conveyor moves one way at one speed. The tracker works in *belt coordinates* (image position minus
how far the belt has moved since the stream began), where every item stands still; that makes matching at 2.5 m/s
(~170 px between frames, zero overlap between an item's consecutive boxes) as easy as matching parked cars.

Estimator: every box of the previous frame paired with every box of this frame that sits in the same lane (same
position across the belt, similar size) votes for the displacement along the belt. The pairs of one item all vote
for the belt's true step; wrong pairings scatter. Votes go into a histogram (1 px/frame bins) that decays with a
half-life of a second or so; the speed is its mode, refined to the weighted mean around the mode. No tracks are
needed, so the estimate is right from the second frame on and cannot be dragged off by the tracker's own mistakes.
Boxes cut by the frame edge vote with the edge that is not cut (the item's true edge), not their centre.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from vision.errors import InputError

EDGE_MARGIN_PX = 1.5  # a box side this close to the frame border was cut by it
SWITCH_MARGIN = 1.5  # another speed must get this many times the votes of the current one to replace it


@dataclass(frozen=True)
class BeltConfig:
    """``prior_speed``: px/frame along the belt to assume until the detections say otherwise (None: 0).
    ``max_step``: the fastest belt step per frame to consider, as a share of the view's length along the belt
    (an item must be seen at least twice to be tracked). ``half_life``: frames after which a vote counts half."""

    prior_speed: float | None = None
    max_step: float = 0.5
    half_life: float = 20.0

    def __post_init__(self) -> None:
        if self.prior_speed is not None and not math.isfinite(self.prior_speed):
            raise InputError(f"belt prior_speed must be a finite number of px/frame, got {self.prior_speed}")
        if not 0.05 <= self.max_step <= 1.0:
            raise InputError(f"belt max_step must be within [0.05, 1] of the view, got {self.max_step}")
        if not self.half_life > 0:
            raise InputError(f"belt half_life must be > 0 frames, got {self.half_life}")


@dataclass(frozen=True)
class BoxGeometry:
    """Boxes measured along the belt (``centre``, ``up``/``down`` edges) and across it (``across``), their size,
    and whether the frame border cut their upstream / downstream side."""

    centre: np.ndarray
    up: np.ndarray
    down: np.ndarray
    across: np.ndarray
    size: np.ndarray
    width_across: np.ndarray
    cut_up: np.ndarray
    cut_down: np.ndarray


def box_geometry(xyxy: np.ndarray, direction: np.ndarray, frame_wh: tuple[int, int]) -> BoxGeometry:
    """Measure boxes (N, 4) along the belt ``direction`` (unit (2,)) in a frame of ``frame_wh`` (width, height)."""
    b = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    d = np.asarray(direction, dtype=np.float64)
    perp = np.array([-d[1], d[0]])
    corners = np.stack([b[:, [0, 1]], b[:, [2, 1]], b[:, [0, 3]], b[:, [2, 3]]], axis=1)  # (N, 4, 2)
    along = corners @ d
    across = corners @ perp
    w, h = frame_wh
    m = EDGE_MARGIN_PX
    touches = {
        "left": b[:, 0] <= m,
        "right": b[:, 2] >= w - m,
        "top": b[:, 1] <= m,
        "bottom": b[:, 3] >= h - m,
    }
    cut_up = np.zeros(len(b), dtype=bool)
    cut_down = np.zeros(len(b), dtype=bool)
    # A border cuts the upstream side when the belt runs away from it (for +x: the left border).
    for border, normal in (("left", (-1, 0)), ("right", (1, 0)), ("top", (0, -1)), ("bottom", (0, 1))):
        facing = float(np.dot(normal, d))
        if facing < -0.2:
            cut_up |= touches[border]
        elif facing > 0.2:
            cut_down |= touches[border]
    area = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    return BoxGeometry(
        centre=along.mean(axis=1),
        up=along.min(axis=1),
        down=along.max(axis=1),
        across=across.mean(axis=1),
        size=np.sqrt(np.maximum(area, 1.0)),
        width_across=across.max(axis=1) - across.min(axis=1),
        cut_up=cut_up,
        cut_down=cut_down,
    )


def pair_displacements(
    prev: BoxGeometry, cur: BoxGeometry, dt: int
) -> tuple[np.ndarray, np.ndarray]:
    """Candidate belt steps (px/frame) from every same-lane (previous, current) box pair, and their weights.

    Weights fall off with the lane offset and size mismatch, and the weights of one current box sum to at most 1,
    so a crowded frame does not outvote a sparse one.
    """
    if len(prev.centre) == 0 or len(cur.centre) == 0:
        return np.zeros(0), np.zeros(0)
    size = (prev.size[:, None] + cur.size[None, :]) / 2
    lane = np.abs(cur.across[None, :] - prev.across[:, None])
    cut = prev.cut_up[:, None] | prev.cut_down[:, None] | cur.cut_up[None, :] | cur.cut_down[None, :]
    # Cut boxes change size and lane centre as they enter/leave: compare them more loosely.
    lane_scale = np.where(cut, 0.35, 0.2) * size
    wa = np.maximum(prev.width_across[:, None], 1.0)
    wb = np.maximum(cur.width_across[None, :], 1.0)
    size_ratio = np.where(cut, np.log(wb / wa), np.log(cur.size[None, :] / prev.size[:, None]))
    weight = np.exp(-0.5 * (lane / lane_scale) ** 2) * np.exp(-0.5 * (size_ratio / np.where(cut, 0.4, 0.2)) ** 2)
    weight = np.where(lane < 2.5 * lane_scale, weight, 0.0)
    # The reference point: the centre when no side is cut, else the side the border did not cut.
    uncut_up = ~prev.cut_up[:, None] & ~cur.cut_up[None, :]
    uncut_down = ~prev.cut_down[:, None] & ~cur.cut_down[None, :]
    step_centre = cur.centre[None, :] - prev.centre[:, None]
    step_up = cur.up[None, :] - prev.up[:, None]
    step_down = cur.down[None, :] - prev.down[:, None]
    step = np.where(uncut_up & uncut_down, step_centre, np.where(uncut_up, step_up, step_down))
    weight = np.where(uncut_up | uncut_down, weight, 0.0)
    totals = weight.sum(axis=0, keepdims=True)
    weight = weight / np.maximum(totals, 1.0)
    keep = weight > 1e-3
    return (step / dt)[keep], weight[keep]


class BeltMotion:
    """Online belt speed (px/frame along ``direction``) and the belt offset (px moved since the first frame)."""

    def __init__(self, direction: np.ndarray, config: BeltConfig | None = None) -> None:
        self.direction = np.asarray(direction, dtype=np.float64)
        self.config = config or BeltConfig()
        self.speed: float = float(self.config.prior_speed or 0.0)
        self.offset: float = 0.0
        self.first_seq: int | None = None
        self.last_seq: int | None = None
        self._lo: float = 0.0
        self._hist: np.ndarray | None = None
        self._prev: np.ndarray = np.zeros((0, 4))

    def observe(self, seq: int, xyxy: np.ndarray, frame_wh: tuple[int, int]) -> float:
        """Take one frame's boxes (image pixels), update the speed and the offset; returns the speed.

        Frames must come with increasing ``seq``; a gap of ``dt`` frames moves the belt ``dt`` steps.
        """
        boxes = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
        if self.last_seq is None:
            self.first_seq = self.last_seq = seq
            self._prev = boxes
            return self.speed
        dt = seq - self.last_seq
        if dt <= 0:
            raise InputError(f"belt motion: frame seq {seq} does not follow {self.last_seq}")
        extent = abs(frame_wh[0] * self.direction[0]) + abs(frame_wh[1] * self.direction[1])
        if self._hist is None:
            self._lo = -0.05 * extent
            self._hist = np.zeros(int(math.ceil(self.config.max_step * extent - self._lo)) + 2)
        self._hist *= 0.5 ** (dt / self.config.half_life)
        self._hist[self._hist < 1e-3] = 0.0  # forgotten votes: keeps the histogram (and its snapshot) sparse
        steps, weights = pair_displacements(
            box_geometry(self._prev, self.direction, frame_wh), box_geometry(boxes, self.direction, frame_wh), dt
        )
        pos = steps - self._lo
        ok = (pos >= 0) & (pos <= len(self._hist) - 2)
        pos, weights = pos[ok], weights[ok]
        lower = np.floor(pos).astype(np.int64)
        frac = pos - lower
        np.add.at(self._hist, lower, weights * (1 - frac))
        np.add.at(self._hist, lower + 1, weights * frac)
        self.speed = self._mode()
        self.offset += self.speed * dt
        self.last_seq = seq
        self._prev = boxes
        return self.speed

    def _mode(self) -> float:
        hist = self._hist
        if hist is None or hist.sum() < 0.5:  # not enough evidence yet: keep what we had (the prior at first)
            return self.speed
        smooth = np.convolve(hist, np.array([1, 2, 3, 2, 1], dtype=np.float64) / 9, mode="same")
        peak = int(np.argmax(smooth))
        current = int(round(self.speed - self._lo))
        if 0 <= current < len(hist) and abs(peak - current) > 3:
            # Switch to another speed only when it clearly outvotes the current one: with few, jittery boxes two
            # peaks can be close, and flapping between them would tear tracks apart.
            if smooth[peak] < SWITCH_MARGIN * smooth[current]:
                peak = current
        lo, hi = max(0, peak - 3), min(len(hist), peak + 4)
        w = hist[lo:hi]
        if w.sum() <= 0:
            return self.speed
        return float((np.arange(lo, hi) * w).sum() / w.sum() + self._lo)

    @property
    def shift(self) -> np.ndarray:
        """How far the belt has carried things since the first frame, as an image vector (2,)."""
        return self.offset * self.direction

    def to_belt(self, xyxy: np.ndarray) -> np.ndarray:
        """Image boxes (N, 4) -> belt coordinates (where they were at the first frame)."""
        sx, sy = self.shift
        return np.asarray(xyxy, dtype=np.float64).reshape(-1, 4) - np.array([sx, sy, sx, sy])

    def to_image(self, xyxy: np.ndarray) -> np.ndarray:
        """Belt-coordinate boxes (N, 4) -> where they are in the image now."""
        sx, sy = self.shift
        return np.asarray(xyxy, dtype=np.float64).reshape(-1, 4) + np.array([sx, sy, sx, sy])

    def to_state(self) -> dict[str, Any]:
        """JSON-serialisable snapshot."""
        return {
            "speed": self.speed,
            "offset": self.offset,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "lo": self._lo,
            "bins": None if self._hist is None else len(self._hist),
            "hist": [] if self._hist is None else [[int(i), float(self._hist[i])] for i in np.flatnonzero(self._hist)],
            "prev": self._prev.tolist(),
        }

    def load_state(self, raw: Mapping[str, Any]) -> None:
        """Restore a `to_state` snapshot; raises InputError when it is malformed."""
        try:
            self.speed = float(raw["speed"])
            self.offset = float(raw["offset"])
            self.first_seq = None if raw["first_seq"] is None else int(raw["first_seq"])
            self.last_seq = None if raw["last_seq"] is None else int(raw["last_seq"])
            self._lo = float(raw["lo"])
            if raw["bins"] is None:
                self._hist = None
            else:
                self._hist = np.zeros(int(raw["bins"]), dtype=np.float64)
                for i, v in raw["hist"]:
                    self._hist[int(i)] = float(v)
            self._prev = np.asarray(raw["prev"], dtype=np.float64).reshape(-1, 4)
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"belt motion snapshot is malformed ({exc!r})") from exc
