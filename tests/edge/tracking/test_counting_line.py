"""CountingLine: construction (with every way to get it wrong), parsing, and the along-belt geometry."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edge.tracking.line import DOWNSTREAM, ON_LINE, UPSTREAM, CountingLine, frames_to_cross
from vision.errors import InputError


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"a": (320, 0), "b": (320, 360)}, None),
        ({"a": (0, 100), "b": (640, 100), "downstream": (0, -2)}, None),
        ({"a": (0, 0), "b": (100, 100), "downstream": (1, 0)}, None),  # a diagonal line, belt along x
        ({"a": (320, 0), "b": (320, 0)}, "same point"),
        ({"a": (320, 0), "b": (320, 360), "downstream": (0, 0)}, "non-zero"),
        ({"a": (320, 0), "b": (320, 360), "downstream": (0, 1)}, "runs along the line"),
        ({"a": (float("nan"), 0), "b": (320, 360)}, "finite"),
        ({"a": (320, 0), "b": (320, 360), "hysteresis_px": -1}, "hysteresis_px"),
    ],
)
def test_construction(kwargs: dict, error: str | None) -> None:
    if error is None:
        line = CountingLine(**kwargs)
        assert np.isclose(np.linalg.norm(line.direction), 1.0)
    else:
        with pytest.raises(InputError, match=error):
            CountingLine(**kwargs)


@pytest.mark.parametrize(
    ("spec", "point", "expected_along", "error"),
    [
        ("x=320", (300, 50), -20.0, None),
        ("x=320:+x", (330, 50), 10.0, None),
        ("x=320:-x", (300, 50), 20.0, None),  # belt runs right-to-left: left of the line is downstream
        ("y=200", (5, 150), -50.0, None),
        ("y=200:-y", (5, 150), 50.0, None),
        (" x = 12.5 ", (12.5, 0), 0.0, None),
        ("x=320:+y", None, None, "downstream direction along x"),
        ("z=3", None, None, "expected 'x=POS'"),
        ("x=", None, None, "expected 'x=POS'"),
    ],
)
def test_parse_and_along(spec: str, point: tuple | None, expected_along: float | None, error: str | None) -> None:
    if error is not None:
        with pytest.raises(InputError, match=error):
            CountingLine.parse(spec)
        return
    line = CountingLine.parse(spec)
    assert line.along(np.array([point]))[0] == pytest.approx(expected_along)


def test_along_is_distance_along_the_belt_not_to_the_line() -> None:
    # A 45-degree line with the belt along +x: a point 10 px right of the line (horizontally) is 10 px of belt travel
    # away, though only ~7 px from the line itself.
    line = CountingLine(a=(0, 0), b=(100, 100), downstream=(1, 0))
    assert line.along(np.array([[60, 50]]))[0] == pytest.approx(10.0)
    assert line.along(np.array([[40, 50]]))[0] == pytest.approx(-10.0)


@pytest.mark.parametrize(
    ("distance", "hysteresis", "side"),
    [(-5.0, 0.0, UPSTREAM), (5.0, 0.0, DOWNSTREAM), (0.0, 0.0, ON_LINE), (-3.0, 4.0, ON_LINE), (4.5, 4.0, DOWNSTREAM)],
)
def test_side_with_hysteresis(distance: float, hysteresis: float, side: int) -> None:
    assert CountingLine.vertical(320, hysteresis_px=hysteresis).side(distance) == side


def test_bounded_segment_spans_only_its_lane() -> None:
    lane = CountingLine(a=(320, 100), b=(320, 200), downstream=(1, 0), bounded=True)
    assert lane.spans((330, 150))
    assert not lane.spans((330, 250))
    assert CountingLine.vertical(320).spans((330, 10_000))


def test_json_round_trip_and_malformed() -> None:
    line = CountingLine(a=(1, 2), b=(3, 40), downstream=(1, 0.1), bounded=True, hysteresis_px=2)
    assert CountingLine.from_dict(json.loads(json.dumps(line.to_dict()))) == line
    with pytest.raises(InputError, match="malformed"):
        CountingLine.from_dict({"a": [1, 2]})


@pytest.mark.parametrize(
    ("distance", "speed", "expected"), [(-30.0, 10.0, 3.0), (20.0, 10.0, -2.0), (-30.0, 0.0, None)]
)
def test_frames_to_cross(distance: float, speed: float, expected: float | None) -> None:
    assert frames_to_cross(distance, speed) == expected
