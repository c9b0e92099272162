"""The dynamic batcher on its own: bounded, FIFO, batches up to max_batch, a batch closes when full."""

from __future__ import annotations

import asyncio

import pytest

from edge.protocol import FrameHeader
from edge.service.batcher import Batcher, Job


def job(seq: int, camera: str = "cam1") -> Job:
    return Job(header=FrameHeader(camera, seq, 1.0), payload=b"", received_at=1.0,
               done=asyncio.get_running_loop().create_future())


def test_the_queue_is_bounded_and_batches_keep_arrival_order() -> None:
    async def scenario() -> tuple[list[bool], list[list[int]], list[int]]:
        depths: list[int] = []
        b = Batcher(max_batch=3, max_wait_s=0.0, limit=5, on_depth=depths.append)
        accepted = [b.try_put(job(s, f"cam{s % 2}")) for s in range(7)]
        batches = [[j.seq for j in await b.next_batch()] for _ in range(2)]
        return accepted, batches, depths

    accepted, batches, depths = asyncio.run(scenario())
    assert accepted == [True] * 5 + [False] * 2  # never more than the limit: the caller answers 'retry'
    assert batches == [[0, 1, 2], [3, 4]]
    assert depths == [1, 2, 3, 4, 5, 2, 0]


def test_a_full_batch_closes_without_waiting_for_max_wait() -> None:
    async def scenario() -> list[int]:
        b = Batcher(max_batch=2, max_wait_s=3600.0, limit=10)
        waiter = asyncio.create_task(b.next_batch())
        await asyncio.sleep(0)
        b.try_put(job(1))
        await asyncio.sleep(0)
        b.try_put(job(2))
        return [j.seq for j in await asyncio.wait_for(waiter, 30)]

    assert asyncio.run(scenario()) == [1, 2]


def test_drain_empties_the_queue() -> None:
    async def scenario() -> tuple[list[int], int]:
        b = Batcher(max_batch=2, max_wait_s=0.0, limit=10)
        for s in range(4):
            b.try_put(job(s))
        return [j.seq for j in b.drain()], len(b)

    assert asyncio.run(scenario()) == ([0, 1, 2, 3], 0)


@pytest.mark.parametrize(("max_batch", "max_wait_s", "limit"), [(0, 0.0, 1), (1, -1.0, 1), (1, 0.0, 0)])
def test_bad_settings(max_batch: int, max_wait_s: float, limit: int) -> None:
    with pytest.raises(ValueError):
        Batcher(max_batch, max_wait_s, limit)
