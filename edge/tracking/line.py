"""`CountingLine`: a line across the belt and the belt's downstream direction, with the pure crossing logic.

A track counts when its box centre is seen on the upstream side and later on the downstream side (see
`edge.tracking.counter`). Distances here are measured *along the belt*: ``along(p)`` is how far the belt must carry
point ``p`` to put it on the line (negative: still upstream), so a belt speed in px/frame turns a distance into a
number of frames directly.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from vision.errors import InputError

Side = Literal[-1, 0, 1]
UPSTREAM: Side = -1
ON_LINE: Side = 0
DOWNSTREAM: Side = 1

_AXES = {"+x": (1.0, 0.0), "-x": (-1.0, 0.0), "+y": (0.0, 1.0), "-y": (0.0, -1.0)}
_SPEC = re.compile(r"^\s*([xy])\s*=\s*([-+]?\d+(?:\.\d*)?)\s*(?::\s*([+-][xy]))?\s*$")


@dataclass(frozen=True)
class CountingLine:
    """The line through ``a`` and ``b`` (image pixels) and the belt's ``downstream`` direction (any non-zero vector
    not parallel to the line; stored normalised).

    ``bounded=False`` (the default for `vertical`/`horizontal`) treats the line as infinite, spanning the frame;
    ``bounded=True`` counts only crossings whose point lies between ``a`` and ``b`` (one lane of a wide belt).
    ``hysteresis_px``: a centre within this distance of the line is "on the line" and changes no side.
    """

    a: tuple[float, float]
    b: tuple[float, float]
    downstream: tuple[float, float] = (1.0, 0.0)
    bounded: bool = False
    hysteresis_px: float = 0.0

    def __post_init__(self) -> None:
        values = [*self.a, *self.b, *self.downstream, self.hysteresis_px]
        if len(self.a) != 2 or len(self.b) != 2 or len(self.downstream) != 2:
            raise InputError(f"counting line: a, b and downstream must be (x, y) pairs, got {self!r}")
        if not all(math.isfinite(float(v)) for v in values):
            raise InputError(f"counting line: coordinates must be finite numbers, got {self!r}")
        if self.hysteresis_px < 0:
            raise InputError(f"counting line: hysteresis_px must be >= 0, got {self.hysteresis_px}")
        tx, ty = self.b[0] - self.a[0], self.b[1] - self.a[1]
        if math.hypot(tx, ty) < 1e-6:
            raise InputError(f"counting line: a and b are the same point {self.a}")
        dx, dy = float(self.downstream[0]), float(self.downstream[1])
        norm = math.hypot(dx, dy)
        if norm < 1e-9:
            raise InputError("counting line: downstream direction must be a non-zero vector")
        if abs(norm - 1.0) > 1e-12:  # normalising a unit vector again would move its last bits (breaks equality)
            dx, dy = dx / norm, dy / norm
        # |sin| of the angle between the belt direction and the line: near 0 the belt runs along the line.
        if abs(tx * dy - ty * dx) / math.hypot(tx, ty) < 0.1:
            raise InputError(
                f"counting line: downstream direction {self.downstream} runs along the line {self.a}->{self.b}; "
                "the belt must cross the line"
            )
        object.__setattr__(self, "a", (float(self.a[0]), float(self.a[1])))
        object.__setattr__(self, "b", (float(self.b[0]), float(self.b[1])))
        object.__setattr__(self, "downstream", (dx, dy))
        object.__setattr__(self, "hysteresis_px", float(self.hysteresis_px))

    # --- constructors -------------------------------------------------------------------------------------------

    @classmethod
    def vertical(cls, x: float, downstream: Literal["+x", "-x"] = "+x", hysteresis_px: float = 0.0) -> CountingLine:
        """The line ``x = const`` across a belt running left-right."""
        if downstream not in ("+x", "-x"):
            raise InputError(f"a vertical counting line needs downstream '+x' or '-x', got {downstream!r}")
        return cls((x, 0.0), (x, 1.0), _AXES[downstream], hysteresis_px=hysteresis_px)

    @classmethod
    def horizontal(cls, y: float, downstream: Literal["+y", "-y"] = "+y", hysteresis_px: float = 0.0) -> CountingLine:
        """The line ``y = const`` across a belt running top-bottom."""
        if downstream not in ("+y", "-y"):
            raise InputError(f"a horizontal counting line needs downstream '+y' or '-y', got {downstream!r}")
        return cls((0.0, y), (1.0, y), _AXES[downstream], hysteresis_px=hysteresis_px)

    @classmethod
    def parse(cls, spec: str) -> CountingLine:
        """From ``"x=320"``, ``"x=320:-x"``, ``"y=200:+y"`` (position, then the downstream direction; default +x/+y)."""
        m = _SPEC.match(spec)
        if not m:
            raise InputError(
                f"counting line {spec!r}: expected 'x=POS' or 'y=POS', optionally ':+x' / ':-x' / ':+y' / ':-y'"
            )
        axis, pos, direction = m.group(1), float(m.group(2)), m.group(3) or f"+{m.group(1)}"
        if direction[1] != axis:
            raise InputError(f"counting line {spec!r}: a line {axis}=... needs a downstream direction along {axis}")
        return cls.vertical(pos, direction) if axis == "x" else cls.horizontal(pos, direction)  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, Any]:
        """JSON form (config files, checkpoints)."""
        return {
            "a": list(self.a),
            "b": list(self.b),
            "downstream": list(self.downstream),
            "bounded": self.bounded,
            "hysteresis_px": self.hysteresis_px,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> CountingLine:
        """Inverse of `to_dict`; raises InputError naming what is wrong."""
        try:
            return cls(
                a=tuple(raw["a"]),  # type: ignore[arg-type]
                b=tuple(raw["b"]),  # type: ignore[arg-type]
                downstream=tuple(raw.get("downstream", (1.0, 0.0))),  # type: ignore[arg-type]
                bounded=bool(raw.get("bounded", False)),
                hysteresis_px=float(raw.get("hysteresis_px", 0.0)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"counting line: malformed {dict(raw)!r} ({exc!r})") from exc

    # --- geometry -----------------------------------------------------------------------------------------------

    @property
    def direction(self) -> np.ndarray:
        """Unit vector of belt motion, (2,) float64."""
        return np.asarray(self.downstream, dtype=np.float64)

    def along(self, points: np.ndarray) -> np.ndarray:
        """Signed distance *along the belt* from the line to each point (N, 2): > 0 downstream, < 0 upstream."""
        p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        t = np.subtract(self.b, self.a)
        normal = np.array([-t[1], t[0]]) / np.hypot(*t)
        d = self.direction
        if normal @ d < 0:
            normal = -normal
        return (p - np.asarray(self.a)) @ normal / float(normal @ d)

    def side(self, distance: float) -> Side:
        """Which side a signed along-belt distance is on, with the hysteresis band counting as the line itself."""
        if distance > self.hysteresis_px:
            return DOWNSTREAM
        if distance < -self.hysteresis_px:
            return UPSTREAM
        return ON_LINE

    def spans(self, point: np.ndarray | tuple[float, float]) -> bool:
        """Whether a point's crossing falls within the line: always for an unbounded line; for a segment, whether
        the point carried back along the belt onto the line lands between ``a`` and ``b``."""
        if not self.bounded:
            return True
        p = np.asarray(point, dtype=np.float64).reshape(2)
        on_line = p - self.along(p)[0] * self.direction
        t = np.subtract(self.b, self.a)
        u = float((on_line - np.asarray(self.a)) @ t / (t @ t))
        return 0.0 <= u <= 1.0


def frames_to_cross(distance: float, speed: float) -> float | None:
    """Frames until a point ``distance`` px along the belt from the line reaches it at ``speed`` px/frame
    (<= 0 when it is already past); None when the belt does not move downstream."""
    if speed <= 1e-9:
        return None
    return -distance / speed
