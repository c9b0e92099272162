"""The ways line counters fail in the peers, each reproduced with a scripted detection stream and run through the
real `CameraCounter` (supervision #2600, #1838, #1720; ultralytics #3823, #9197, PR #9998)."""

from __future__ import annotations

import numpy as np
import pytest
from oracle_streams import H, W, Box, item_path, run_counter, scripted, truth_ids_counted

from edge.tracking import CameraCounter, CounterConfig, CountingLine, TrackerConfig
from edge.tracking.tracker import BeltTracker
from vision.taxonomy import Taxonomy


def counter(taxonomy: Taxonomy, line: CountingLine | None = None, **kwargs) -> CameraCounter:
    return CameraCounter("cam", taxonomy, CounterConfig(line=line or CountingLine.vertical(320), **kwargs))


def apple(tax: Taxonomy, cond: str = "fresh") -> int:
    return tax.class_id("apple", cond)


# --- a box jittering across the line ------------------------------------------------------------------------------


@pytest.mark.parametrize("jitter", [4.0, 8.0, 15.0])
def test_jitter_across_the_line_counts_once(taxonomy: Taxonomy, jitter: float) -> None:
    """A slow item whose centre swings back and forth across the line for many frames counts exactly once."""
    rng = np.random.default_rng(7)
    path = item_path(1, apple(taxonomy), x0=220, y=100, size=80, step=1.0, frames=range(0, 80))
    for k, (box, cid, conf, tid) in path.items():
        dx = float(rng.choice([-1, 1]) * jitter * rng.uniform(0.5, 1.0))
        path[k] = ([box[0] + dx, box[1], box[2] + dx, box[3]], cid, conf, tid)
    centres = [(b[0][0] + b[0][2]) / 2 for b in path.values()]
    crossings = sum(1 for a, b in zip(centres, centres[1:]) if (a - 320) * (b - 320) < 0)
    assert crossings >= 3  # the scenario really jitters across the line several times
    items, sources = run_counter(counter(taxonomy), iter(scripted(taxonomy, [path], 80)))
    assert truth_ids_counted(items, sources) == [1]


def test_item_sitting_on_the_line_of_a_stopped_belt_counts_at_most_once(taxonomy: Taxonomy) -> None:
    rng = np.random.default_rng(3)
    paths = [{k: ([280 + d, 100, 360 + d, 180], apple(taxonomy), 0.9, 1) for k, d in
              enumerate(rng.uniform(-8, 8, 60))}]
    items, _ = run_counter(counter(taxonomy), iter(scripted(taxonomy, paths, 60)))
    assert len(items) <= 1


def test_counts_only_in_the_belt_direction(taxonomy: Taxonomy) -> None:
    """Items riding the belt (+x) count; one carried against the belt across the line does not."""
    forward = [item_path(i, apple(taxonomy), x0=-60 - 150 * i, y=40 + 60 * (i % 4), size=60, step=20,
                         frames=range(0, 90)) for i in range(4)]
    backward = item_path(99, apple(taxonomy), x0=560, y=300, size=50, step=-20, frames=range(0, 40))
    items, sources = run_counter(counter(taxonomy), iter(scripted(taxonomy, [*forward, backward], 90)))
    assert truth_ids_counted(items, sources) == [0, 1, 2, 3]


def test_belt_running_backwards_counts_nothing(taxonomy: Taxonomy) -> None:
    backward = [item_path(i, apple(taxonomy), x0=640 + 150 * i, y=60, size=60, step=-20, frames=range(0, 80))
                for i in range(4)]
    items, _ = run_counter(counter(taxonomy), iter(scripted(taxonomy, backward, 80)))
    assert items == []


# --- a line near the frame edge ------------------------------------------------------------------------------------


@pytest.mark.parametrize("step", [25.0, 100.0, 167.0])
@pytest.mark.parametrize(("line_x", "side"), [(632.0, "downstream edge"), (6.0, "upstream edge")])
def test_line_near_the_frame_edge_fires(taxonomy: Taxonomy, step: float, line_x: float, side: str) -> None:
    """A line a few px from the frame edge: the (cut) box centre never gets past it, yet every item counts once."""
    n = 12
    frames = int((W + 200 * n) / step) + 12
    paths = [item_path(i, apple(taxonomy), x0=-90 - 200 * i, y=60 + 50 * (i % 5), size=90, step=step,
                       frames=range(0, frames)) for i in range(n)]
    c = counter(taxonomy, CountingLine.vertical(line_x))
    items, sources = run_counter(c, iter(scripted(taxonomy, paths, frames)))
    assert truth_ids_counted(items, sources) == list(range(n)), side


# --- a track id switch mid-view -------------------------------------------------------------------------------------


def test_long_miss_mid_view_switches_track_but_counts_once(taxonomy: Taxonomy) -> None:
    """The detector loses the item for longer than the tracker keeps a lost track; the tracker starts a new track
    (checked on the bare tracker), the counter recognises the item where the belt has carried it."""
    tracker_cfg = TrackerConfig(max_lost=3)
    item = item_path(1, apple(taxonomy), x0=0, y=150, size=70, step=12, frames=range(0, 60))
    gap = {k: v for k, v in item.items() if not 12 <= k < 22}  # centres 179..299 seen, 311..407 missed
    neighbours = [item_path(10 + i, apple(taxonomy), x0=-150 - 150 * i, y=40, size=60, step=12, frames=range(0, 60))
                  for i in range(2)]
    stream = scripted(taxonomy, [gap, *neighbours], 60)

    bare = BeltTracker(np.array([1.0, 0.0]), tracker_cfg)
    ids = set()
    for frame, dets in stream:
        step = bare.update(frame.seq, dets.xyxy, dets.confidence, (W, H))
        ids |= {int(t) for t, tid in zip(step.track_ids, dets.data["truth_id"]) if tid == 1}
    assert len(ids) == 2  # the scenario really is an id switch

    items, sources = run_counter(counter(taxonomy, tracker=tracker_cfg), iter(stream))
    assert truth_ids_counted(items, sources) == [1, 10, 11]
    mine = next(it for it in items if sources[it.track_id].get(1))
    assert mine.frames == len(gap)  # every observation, before and after the switch, is the one item's


def test_box_that_changes_shape_mid_view_is_one_item(taxonomy: Taxonomy) -> None:
    """The box shrinks to a quarter of the item (occlusion) just before the line: no IoU with the prediction."""
    item = item_path(1, apple(taxonomy), x0=0, y=120, size=100, step=15, frames=range(0, 50))
    for k in range(14, 18):
        box, cid, conf, tid = item[k]
        item[k] = ([box[2] - 45, box[1] + 55, box[2], box[3]], cid, conf, tid)
    items, sources = run_counter(counter(taxonomy), iter(scripted(taxonomy, [item], 50)))
    assert truth_ids_counted(items, sources) == [1]


def test_reborn_track_after_the_item_was_handed_on_is_suppressed(taxonomy: Taxonomy) -> None:
    """Counted, lost long enough to be handed on, then seen again further downstream: still one count."""
    cfg = TrackerConfig(max_lost=2)
    item = item_path(1, apple(taxonomy), x0=100, y=120, size=70, step=10, frames=range(0, 60))
    gap = {k: v for k, v in item.items() if not 20 <= k < 30}  # crosses at ~frame 18, gone 20..29
    stream = scripted(taxonomy, [gap], 60)
    c = counter(taxonomy, tracker=cfg)
    handed_on, tracked_after = [], []
    for frame, dets in stream:
        r = c.update(frame, dets)
        handed_on += r.counted
        if frame.seq >= 31:  # from its second sighting on, the re-born track is recognised
            tracked_after += r.tracked.tracker_id.tolist()
    handed_on += c.flush()
    assert len(handed_on) == 1
    assert set(tracked_after) == {handed_on[0].track_id}  # the re-born track is reported as the same item


# --- class flicker ---------------------------------------------------------------------------------------------------


def test_class_flicker_is_one_fresh_item(taxonomy: Taxonomy) -> None:
    pattern = ["fresh", "bruised", "fresh", "fresh", "rotten", "fresh", "bruised", "fresh", "fresh", "fresh"]
    path = item_path(1, apple(taxonomy), x0=150, y=100, size=80, step=30, frames=range(0, 10))
    for i, k in enumerate(sorted(path)):
        box, _, conf, tid = path[k]
        path[k] = (box, taxonomy.class_id("apple", pattern[i % len(pattern)]), conf, tid)
    items, _ = run_counter(counter(taxonomy), iter(scripted(taxonomy, [path], 12)))
    assert len(items) == 1
    it = items[0]
    assert (it.produce, it.condition, it.flagged) == ("apple", "fresh", False)
    assert it.best_crop_jpeg is None


def test_produce_flicker_is_voted_away(taxonomy: Taxonomy) -> None:
    kinds = ["banana", "banana", "tomato", "banana", "banana", "orange", "banana", "banana"]
    path = item_path(1, 0, x0=150, y=100, size=80, step=30, frames=range(0, 10))
    for i, k in enumerate(sorted(path)):
        box, _, conf, tid = path[k]
        path[k] = (box, taxonomy.class_id(kinds[i % len(kinds)], "rotten"), conf, tid)
    items, _ = run_counter(counter(taxonomy), iter(scripted(taxonomy, [path], 12)))
    assert [(it.produce, it.condition, it.flagged) for it in items] == [("banana", "rotten", True)]
    assert items[0].votes["banana"] > items[0].votes.get("tomato", 0)


def test_a_long_item_drawn_as_two_overlapping_boxes_is_one_item(taxonomy: Taxonomy) -> None:
    """A diagonal banana the model covers with two boxes that overlap too little to be merged on sight (IoU ~0.4):
    the second track is folded into the first when it is confirmed, and the item counts once."""
    banana = taxonomy.class_id("banana", "fresh")
    whole = item_path(1, banana, x0=-40, y=60, size=120, step=30, frames=range(0, 30))
    front, back = {}, {}
    for k, (box, cid, conf, tid) in whole.items():
        x0, y0, x1, y1 = box
        front[k] = ([x0, y0, x1 - 20, y1 - 20], cid, 0.7, tid)
        back[k] = ([x0 + 20, y0 + 20, x1, y1], cid, 0.6, tid)
    ov = front[10][0], back[10][0]
    assert 0.4 < _iou(*ov) < 0.5  # more than neighbours ever overlap, less than `twins` merges on sight
    items, sources = run_counter(counter(taxonomy), iter(scripted(taxonomy, [front, back], 30)))
    assert truth_ids_counted(items, sources) == [1]


def _iou(a: list[float], b: list[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1])
    return ix * iy / (area - ix * iy)


# --- false positives, items already past the line, missed first frames ---------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_false_positives_never_count(taxonomy: Taxonomy, seed: int) -> None:
    """Scattered false positives (0.3 a frame, anywhere, any class), a static glare on the line, and a one-frame
    ghost box next to every real item: only the real items count."""
    rng = np.random.default_rng(seed)
    fps: list[dict[int, Box]] = []
    for k in range(120):
        for _ in range(int(rng.poisson(0.3))):
            x, y = rng.uniform(0, W - 60), rng.uniform(0, H - 60)
            fps.append({k: ([x, y, x + 50, y + 50], int(rng.integers(16)), float(rng.uniform(0.25, 0.75)), -1)})
    glare = {k: ([300.0, 10.0, 340.0, 40.0], apple(taxonomy), 0.9, -2) for k in range(120)}  # static, on the line
    belt = [item_path(i, apple(taxonomy), x0=-100 - 300 * i, y=200, size=80, step=30, frames=range(0, 120))
            for i in range(6)]
    ghosts = [{k: ([b[0][0] + 10, b[0][1] - 70, b[0][2] + 10, b[0][1] - 10], 3, 0.5, -3)} for p in belt
              for k, b in p.items() if k % 7 == 0]
    items, sources = run_counter(counter(taxonomy), iter(scripted(taxonomy, [*fps, glare, *belt, *ghosts], 120)))
    assert truth_ids_counted(items, sources) == [0, 1, 2, 3, 4, 5]


def test_a_second_box_of_another_produce_on_the_same_item_is_one_item(taxonomy: Taxonomy) -> None:
    """Per-produce NMS lets an unsure model put an apple box and an orange box on one item: one item, both votes."""
    item = item_path(1, apple(taxonomy), x0=0, y=100, size=80, step=25, frames=range(0, 40))
    twin = {k: ([b[0][0] + 3, b[0][1] - 2, b[0][2] - 2, b[0][3] + 3], taxonomy.class_id("orange", "fresh"), 0.6, 1)
            for k, b in item.items()}
    items, sources = run_counter(counter(taxonomy), iter(scripted(taxonomy, [item, twin], 40)))
    assert truth_ids_counted(items, sources) == [1]
    assert items[0].produce == "apple"
    assert items[0].votes["orange"] == items[0].votes["apple"] == len(item)


def test_item_past_the_line_when_the_stream_starts_is_not_counted(taxonomy: Taxonomy) -> None:
    already = item_path(1, apple(taxonomy), x0=400, y=100, size=80, step=20, frames=range(0, 30))
    coming = item_path(2, apple(taxonomy), x0=0, y=200, size=80, step=20, frames=range(0, 30))
    items, sources = run_counter(counter(taxonomy), iter(scripted(taxonomy, [already, coming], 30)))
    assert truth_ids_counted(items, sources) == [2]


def test_item_missed_until_past_the_line_is_counted_by_belt_extrapolation(taxonomy: Taxonomy) -> None:
    """Fast belt; the detector misses an item in both frames before the line. Back-extrapolation says it was
    upstream a frame ago, while the stream was running: it crossed, and counts (flagged as inferred)."""
    step = 160.0
    paths = [item_path(i, apple(taxonomy), x0=-80 - 220 * i, y=50 + 60 * (i % 4), size=80, step=step,
                       frames=range(0, 30)) for i in range(6)]
    late = {k: v for k, v in paths[3].items() if (v[0][0] + v[0][2]) / 2 > 320}
    assert len(late) >= 2 and len(late) < len(paths[3])
    items, sources = run_counter(counter(taxonomy), iter(scripted(taxonomy, [*paths[:3], late, *paths[4:]], 30)))
    assert truth_ids_counted(items, sources) == [0, 1, 2, 3, 4, 5]
    assert [it.inferred for it in items if sources[it.track_id].get(3)] == [True]


def test_belt_speeding_up_mid_stream_still_counts_each_item_once(taxonomy: Taxonomy) -> None:
    """The belt runs at 20 px/frame, then 45: the speed estimate follows and no item is lost or counted twice."""
    def position(k: int) -> float:
        return 20.0 * min(k, 60) + 45.0 * max(0, k - 60)

    paths: list[dict[int, Box]] = []
    for i in range(14):
        path = {}
        for k in range(130):
            left = -80 - 170 * i + position(k)
            a, b = max(0.0, left), min(float(W), left + 70)
            if b - a >= 28:
                path[k] = ([a, 40.0 + 60 * (i % 5), b, 110.0 + 60 * (i % 5)], apple(taxonomy), 0.85, i)
        paths.append(path)
    c = counter(taxonomy)
    items, sources = run_counter(c, iter(scripted(taxonomy, paths, 130)))
    centres = {i: [(p[k][0][0] + p[k][0][2]) / 2 for k in sorted(p)] for i, p in enumerate(paths) if p}
    crossing = [i for i, cx in centres.items() if cx[0] < 320 <= cx[-1]]
    assert len(crossing) >= 10
    assert truth_ids_counted(items, sources) == crossing
    assert c.belt_speed == pytest.approx(45.0, abs=1.0)
