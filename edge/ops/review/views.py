"""The queue as the page and the API show it: one page of entries under a filter (the API's JSON forms of it are
`edge.ops.review.api_models`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import Connection

from edge.ops.review.inputs import QueueFilter
from edge.store.review_queue import count_queue, query_queue
from edge.store.reviews import QueueEntry


@dataclass(frozen=True)
class QueuePage:
    """One page of the review queue."""

    filter: QueueFilter
    entries: list[QueueEntry]
    total: int
    page_size: int

    @property
    def pages(self) -> int:
        """Number of pages (at least 1)."""
        return max(1, math.ceil(self.total / self.page_size))


def load_page(conn: Connection, f: QueueFilter, page_size: int) -> QueuePage:
    """The entries of page ``f.page`` under filter ``f``, oldest unreviewed first, and the total for the pager (one
    transaction: the count and the page agree)."""
    total = count_queue(conn, camera=f.camera, produce=f.produce, status=f.status, day=f.day)
    entries = query_queue(conn, camera=f.camera, produce=f.produce, status=f.status, day=f.day,
                          offset=(f.page - 1) * page_size, limit=page_size)
    return QueuePage(filter=f, entries=entries, total=total, page_size=page_size)
