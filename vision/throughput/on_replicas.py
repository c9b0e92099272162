"""Consecutive items of a stream run at once on a detector's CPU replicas, answers in order.

Why whole batches on separate replicas rather than each batch split across them: a split batch ends at a barrier,
so every replica reaches its Python work (the JPEG headers, the output decoding) at the same moment as the others
and they queue for the GIL while their cores idle. Replicas that each run whole batches drift out of step after the
first batch: one decodes outputs while the others run the model (`qc bench`, README "Benchmarks").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TypeVar

Item = TypeVar("Item")
Answer = TypeVar("Answer")


def map_on_replicas(
    run: Callable[[Item, int], Answer], items: Iterable[Item], replicas: int, pool: ThreadPoolExecutor
) -> Iterator[Answer]:
    """``run(item, replica)`` for each item, on ``pool``, at most one item per replica at a time; answers in the
    items' order. At most ``replicas`` items are taken from ``items`` and not yet answered (memory stays bounded
    when the caller is slow). An exception raises from the item it belongs to, after the answers before it; the
    items still running are waited for before it propagates (and when the caller stops early), so nothing runs
    on a replica once this returns."""
    source = iter(items)
    free = list(range(replicas - 1, -1, -1))
    running: dict[Future[Answer], tuple[int, int]] = {}
    finished: dict[int, Future[Answer]] = {}
    taken = answered = 0
    exhausted = False
    try:
        while True:
            while free and not exhausted and taken - answered < replicas:
                try:
                    item = next(source)
                except StopIteration:
                    exhausted = True
                    break
                replica = free.pop()
                running[pool.submit(run, item, replica)] = (taken, replica)
                taken += 1
            if answered in finished:
                answer = finished.pop(answered).result()  # raises the item's own error, in order
                answered += 1
                yield answer
                continue
            if not running:
                return
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                index, replica = running.pop(future)
                free.append(replica)
                finished[index] = future
    finally:
        wait(running)
