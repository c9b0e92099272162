"""`qc synth clip` says which items cross the counting line, by the counter's own rule and line position."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from edge.config import CameraSection
from edge.tracking.line import CountingLine
from edge.tracking.scoring import crossing_items
from vision.cli import build_app
from vision.counting_line import DEFAULT_LINE_X, crosses_vertical_line


def test_the_clip_marks_and_counts_the_items_that_cross_the_line(tmp_path: Path) -> None:
    """The summary used to report every item that rode through the view while counts only cover the items that
    cross the line: a user saw 'items: 9' against a count of 6 and suspected the counter."""
    out = tmp_path / "clip"
    done = CliRunner().invoke(build_app(), ["synth", "clip", "--out", str(out), "--seconds", "3", "--fps", "8",
                                            "--seed", "5", "--density", "4"])
    assert done.exit_code == 0, done.output
    summary = json.loads(done.stdout[done.stdout.index("{"):])
    truth = json.loads((out / "truth.json").read_text())
    width = truth["width"]
    assert truth["counting_line"]["x"] == summary["counting_line_x"] == DEFAULT_LINE_X * width
    # The same items as the scoring of `qc inspect --truth` and `qc count-table` (edge), at the counter's default line.
    counted_by_edge = set(crossing_items(truth, CountingLine.vertical(width / 2)))
    marked = {item["id"] for item in truth["items"] if item["crosses_line"]}
    assert marked == counted_by_edge
    assert summary["crossing_items"] == len(marked) > 0
    assert summary["items"] == len(truth["items"]) > len(marked)  # items cut by the clip's start or end do not cross


def test_the_default_line_is_the_counter_default() -> None:
    """`qc inspect` and `qc count-table` count at width / 2; a camera configured without a line gets x = 0.5."""
    assert DEFAULT_LINE_X == 0.5
    assert CameraSection(id="belt1", token="belt1-token-0123").line.x == DEFAULT_LINE_X


def test_crossing_rule_per_direction() -> None:
    def box(cx: float) -> list[float]:
        return [cx - 10, 0, cx + 10, 20]

    assert crosses_vertical_line([box(90), box(110)], 100)
    assert crosses_vertical_line([box(90), box(100)], 100)  # ending on the line counts, as in the counter
    assert not crosses_vertical_line([box(100), box(120)], 100)  # first seen on the line: not from upstream
    assert not crosses_vertical_line([box(60), box(90)], 100)  # still upstream at the end
    assert not crosses_vertical_line([], 100)
    assert crosses_vertical_line([box(110), box(90)], 100, "-x")
    assert not crosses_vertical_line([box(90), box(110)], 100, "-x")
    for boxes, direction in (([box(90), box(110)], "+x"), ([box(110), box(90)], "-x"), ([box(100), box(120)], "+x")):
        line = CountingLine.vertical(100, direction)  # type: ignore[arg-type]
        truth = {"items": [{"id": 0, "boxes": boxes}]}
        expected = crosses_vertical_line(boxes, 100, direction)  # type: ignore[arg-type]
        assert (0 in crossing_items(truth, line)) is expected
