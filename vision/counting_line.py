"""The default counting line and the rule for which rendered items cross it, shared by both sides of the base layer.

`qc synth clip` (training) renders every item that rides through the view, but only the items that cross the
counting line are counted (edge). The clip's truth marks those items with this rule, so a user comparing a clip's
item total with `qc inspect`'s counts sees which items are meant to be counted; training may not import edge, so the
rule and the line's default position live here. `edge.tracking.scoring.crossing_items` applies the same rule to a
`CountingLine` (a test keeps the two equal).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

# The default counting line: vertical, through the middle of the frame (a fraction of the width). `qc inspect` and
# `qc count-table` count at width / 2, and a camera configured without a line gets `line: {x: 0.5}`.
DEFAULT_LINE_X = 0.5


def crosses_vertical_line(
    boxes: Sequence[Sequence[float]], line_x: float, direction: Literal["+x", "-x"] = "+x"
) -> bool:
    """Whether an item whose labelled boxes (``[x1, y1, x2, y2]`` pixels, in frame order) are ``boxes`` crosses the
    vertical line ``x = line_x`` downstream: the centre of its first box upstream of the line, that of its last on
    the line or past it. An item already past the line when first seen, or still upstream when last seen, does not
    cross (the counter does not count it either)."""
    if len(boxes) == 0:
        return False
    sign = 1.0 if direction == "+x" else -1.0
    first, last = boxes[0], boxes[-1]
    # Signed distance along the belt from the line to each centre: < 0 upstream, >= 0 on the line or past it.
    along_first = sign * ((first[0] + first[2]) / 2 - line_x)
    along_last = sign * ((last[0] + last[2]) / 2 - line_x)
    return along_first < 0 <= along_last
