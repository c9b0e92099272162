"""`vision.throughput.on_replicas.map_on_replicas`: items at once on separate replicas, answers in order, memory
bounded, errors in order, nothing left running."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from vision.throughput.on_replicas import map_on_replicas


class Recorder:
    """A ``run`` that records which replicas are busy at once, and how many items were taken but not answered."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.busy: set[int] = set()
        self.clash = False
        self.finished: list[int] = []

    def __call__(self, item: tuple[int, threading.Event | None], replica: int) -> tuple[int, int]:
        index, wait_for = item
        with self.lock:
            self.clash |= replica in self.busy
            self.busy.add(replica)
        if wait_for is not None:
            assert wait_for.wait(10)
        with self.lock:
            self.busy.discard(replica)
            self.finished.append(index)
        return index, replica


def test_answers_come_in_order_when_later_items_finish_first() -> None:
    second_done = threading.Event()
    recorder = Recorder()

    def run(item: int, replica: int) -> int:
        if item == 0:
            assert second_done.wait(10)  # item 0 finishes only after item 1
        out = recorder((item, None), replica)[0]
        if item == 1:
            second_done.set()
        return out

    with ThreadPoolExecutor(2) as pool:
        answers = list(map_on_replicas(run, range(7), 2, pool))
    assert answers == list(range(7))
    assert recorder.finished[:2] == [1, 0]  # really out of order underneath
    assert not recorder.clash


def test_at_most_one_item_per_replica_and_a_bounded_backlog() -> None:
    recorder = Recorder()
    taken: list[int] = []
    answered = 0
    most_ahead = 0

    def items() -> Iterator[tuple[int, None]]:
        for i in range(20):
            taken.append(i)
            yield i, None

    with ThreadPoolExecutor(3) as pool:  # more threads than replicas: the replicas are the limit
        for index, replica in map_on_replicas(recorder, items(), 2, pool):
            assert index == answered and replica in (0, 1)
            answered += 1
            most_ahead = max(most_ahead, len(taken) - answered)
    assert answered == 20 and not recorder.clash
    assert most_ahead <= 2  # never more than one batch per replica taken and unanswered


def test_an_error_raises_in_order_after_the_answers_before_it_and_nothing_keeps_running() -> None:
    release = threading.Event()
    recorder = Recorder()

    def run(item: int, replica: int) -> int:
        if item == 1:
            raise ValueError("item 1 is bad")
        return recorder((item, release if item == 2 else None), replica)[0]

    with ThreadPoolExecutor(2) as pool:
        answers = map_on_replicas(run, range(5), 2, pool)
        assert next(answers) == 0
        threading.Timer(0.2, release.set).start()  # item 2 still runs when item 1's error reaches us
        with pytest.raises(ValueError, match="item 1 is bad"):
            next(answers)
        assert 2 in recorder.finished  # waited for before the error propagated
        assert 3 not in recorder.finished and 4 not in recorder.finished


def test_a_caller_that_stops_early_leaves_nothing_running() -> None:
    release = threading.Event()
    recorder = Recorder()
    with ThreadPoolExecutor(2) as pool:
        answers = map_on_replicas(recorder, [(0, None), (1, release), (2, None)], 2, pool)
        assert next(answers) == (0, 0)
        threading.Timer(0.2, release.set).start()
        answers.close()
        assert 1 in recorder.finished


def test_nothing_in_nothing_out() -> None:
    with ThreadPoolExecutor(1) as pool:
        assert list(map_on_replicas(lambda item, replica: item, [], 3, pool)) == []
