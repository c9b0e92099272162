"""Scoring counted items against a clip's truth: crossings, duplicates, misses, spurious items, flag P/R."""

from __future__ import annotations

from edge.tracking.item import Item
from edge.tracking.line import CountingLine
from edge.tracking.scoring import crossing_items, score_against_truth
from edge.tools.inspect_cli import error_lines

def _truth_item(tid: int, produce: str, condition: str, frames: list[int], boxes: list[list[float]]) -> dict:
    return {"id": tid, "produce": produce, "condition": condition, "frames": frames, "boxes": boxes}


TRUTH = {
    "items": [
        _truth_item(0, "apple", "fresh", [0, 1, 2], [[200, 0, 260, 60], [300, 0, 360, 60], [400, 0, 460, 60]]),
        _truth_item(1, "apple", "rotten", [0, 1], [[250, 100, 310, 160], [350, 100, 410, 160]]),
        _truth_item(2, "banana", "bruised", [1, 2], [[100, 200, 200, 240], [200, 200, 300, 240]]),  # never crosses
        _truth_item(3, "tomato", "fresh", [0], [[400, 300, 450, 350]]),  # only seen past the line
    ]
}


def item(track_id: int, produce: str, seq: int, box: tuple, flagged: bool) -> Item:
    return Item(
        camera_id="c", track_id=track_id, first_seq=0, last_seq=2, first_seen_at=0.0, last_seen_at=0.1, counted_seq=1,
        produce=produce, condition="rotten" if flagged else "fresh", freshness=0.1 if flagged else 0.95,
        flagged=flagged, votes={produce: 3}, frames=3, best_box=box, best_seq=seq,
    )


def test_crossing_items() -> None:
    assert sorted(crossing_items(TRUTH, CountingLine.vertical(320))) == [0, 1]


def test_score() -> None:
    items = [
        item(1, "apple", 1, (302, 2, 361, 59), flagged=False),  # truth 0
        item(2, "apple", 2, (402, 1, 458, 60), flagged=True),  # truth 0 again: a duplicate, flagged wrongly
        item(3, "banana", 2, (205, 200, 300, 238), flagged=True),  # truth 2: does not cross -> spurious
        item(4, "tomato", 0, (0, 0, 10, 10), flagged=False),  # matches nothing -> spurious
    ]
    s = score_against_truth(items, TRUTH, CountingLine.vertical(320))
    assert s["truth_total"] == 2 and s["counted_total"] == 4
    assert (s["duplicates"], s["missed"], s["spurious"], s["wrong_produce"]) == (1, 1, 2, 0)
    assert s["per_produce"]["apple"] == {"truth": 2, "counted": 2, "truth_spoiled": 1, "flagged": 1}
    assert s["flag_precision"] == 0.0  # two flags, on a fresh apple and on an item that does not cross
    assert s["flag_recall"] == 0.0  # the rotten apple was missed
    assert s["max_count_error"] == 0.0  # 2 apples counted of 2, yet one is a duplicate: why both are reported
    errors = s["errors"]
    assert errors["counted_twice"] == [{"truth_id": 0, "produce": "apple", "track_ids": [1, 2]}]
    assert errors["missed"] == [{"truth_id": 1, "produce": "apple", "condition": "rotten", "frames": [0, 1]}]
    assert [(e["track_id"], e["produce"], e["frame"]) for e in errors["spurious"]] == [(3, "banana", 2), (4, "tomato", 0)]
    assert errors["spurious"][1]["box"] == [0.0, 0.0, 10.0, 10.0]
    assert errors["wrong_produce"] == []
    wrong = score_against_truth([item(5, "orange", 1, (302, 2, 361, 59), flagged=False)], TRUTH,
                                CountingLine.vertical(320))
    assert wrong["errors"]["wrong_produce"] == [{"track_id": 5, "counted": "orange", "truth_id": 0, "truth": "apple"}]
    assert wrong["wrong_produce"] == 1
    assert error_lines(errors) == [
        "counted twice: truth 0 (apple) as tracks 1, 2",
        "missed: truth 1 (rotten apple, frames 0-1)",
        "spurious: track 3 (banana, frame 2); track 4 (tomato, frame 0)",
    ]


def test_score_of_nothing() -> None:
    s = score_against_truth([], {"items": []}, CountingLine.vertical(320))
    assert s["truth_total"] == 0 and s["flag_precision"] is None and s["flag_recall"] is None
    assert s["errors"] == {"counted_twice": [], "missed": [], "spurious": [], "wrong_produce": []}
    assert error_lines(s["errors"]) == []


def test_an_item_whose_box_spans_two_touching_items_takes_the_one_left_free() -> None:
    """Two touching bananas, both counted: one counted item's best box spans both. Matched each on its own, both
    counted items land on the banana the spanning box overlaps a hair more (a duplicate and a miss, though the count
    is right); paired one to one, each banana has its counted item."""
    truth = {"items": [
        _truth_item(10, "banana", "fresh", [4, 5, 6], [[150, 0, 250, 100], [250, 0, 350, 100], [350, 0, 450, 100]]),
        _truth_item(11, "banana", "fresh", [4, 5, 6], [[250, 0, 350, 100], [349, 0, 450, 100], [450, 0, 550, 100]]),
    ]}
    items = [
        item(1, "banana", 5, (250, 0, 450, 100), flagged=False),  # spans both (IoU 0.5 with 10, 0.505 with 11)
        item(2, "banana", 5, (350, 0, 450, 100), flagged=False),  # banana 11 alone
    ]
    s = score_against_truth(items, truth, CountingLine.vertical(320))
    assert s["truth_total"] == 2 and s["counted_total"] == 2
    assert (s["duplicates"], s["missed"], s["spurious"]) == (0, 0, 0)
    alone = score_against_truth(items[:1], truth, CountingLine.vertical(320))  # alone it takes its best match
    assert (alone["duplicates"], alone["missed"]) == (0, 1)
