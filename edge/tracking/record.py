"""`ItemRecord`: what the counter knows about one item — sightings, side of the line, count, evidence, best view."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import numpy as np

from edge.tracking.aggregate import Evidence
from edge.tracking.views import View, views_from_state, views_to_state
from vision.taxonomy import Taxonomy


class ItemRecord:
    """The counter's record of one item while it is in view and for a while after (mutable; JSON snapshots)."""

    def __init__(self, item_id: int, taxonomy: Taxonomy) -> None:
        self.id = item_id
        self.tracks: set[int] = set()
        self.first_seq = self.last_seq = -1
        self.first_seen_at = self.last_seen_at = 0.0
        self.hits = 0
        self.belt_box = np.zeros(4)
        self.last_box = np.zeros(4)
        self.last_along = 0.0
        self.seen_upstream = False
        self.first_along = 0.0
        self.counted_seq: int | None = None
        self.inferred = False
        self.evidence = Evidence(taxonomy)
        self.skus: dict[str, int] = {}
        self.best_score = -1.0
        self.best_seq = -1
        self.best_box = np.zeros(4)
        self.best_crop: bytes | None = None
        self.views: tuple[View, ...] = ()  # the grader's crops of its best views, while a grader serves
        self.emitted = False
        self.ended_seq: int | None = None

    def to_state(self, include_crop: bool) -> dict[str, Any]:
        """JSON-serialisable snapshot; the best crop and the grader's views as base64 unless ``include_crop`` is
        False."""
        crop = self.best_crop if include_crop else None
        return {
            "id": self.id, "tracks": sorted(self.tracks), "first_seq": self.first_seq, "last_seq": self.last_seq,
            "first_seen_at": self.first_seen_at, "last_seen_at": self.last_seen_at, "hits": self.hits,
            "belt_box": self.belt_box.tolist(), "last_box": self.last_box.tolist(), "last_along": self.last_along,
            "seen_upstream": self.seen_upstream, "first_along": self.first_along, "counted_seq": self.counted_seq,
            "inferred": self.inferred,
            "evidence": self.evidence.to_state(), "skus": dict(self.skus), "best_score": self.best_score,
            "best_seq": self.best_seq, "best_box": self.best_box.tolist(),
            "best_crop": None if crop is None else base64.b64encode(crop).decode("ascii"),
            "views": views_to_state(self.views) if include_crop else [],
            "emitted": self.emitted, "ended_seq": self.ended_seq,
        }

    @classmethod
    def from_state(cls, raw: Mapping[str, Any], taxonomy: Taxonomy) -> ItemRecord:
        """Inverse of `to_state`; raises KeyError/TypeError/ValueError on a malformed snapshot."""
        it = cls(int(raw["id"]), taxonomy)
        it.tracks = {int(t) for t in raw["tracks"]}
        it.first_seq, it.last_seq = int(raw["first_seq"]), int(raw["last_seq"])
        it.first_seen_at, it.last_seen_at = float(raw["first_seen_at"]), float(raw["last_seen_at"])
        it.hits = int(raw["hits"])
        it.belt_box = np.asarray(raw["belt_box"], dtype=np.float64).reshape(4)
        it.last_box = np.asarray(raw["last_box"], dtype=np.float64).reshape(4)
        it.last_along = float(raw["last_along"])
        it.seen_upstream, it.first_along = bool(raw["seen_upstream"]), float(raw["first_along"])
        it.counted_seq = None if raw["counted_seq"] is None else int(raw["counted_seq"])
        it.inferred = bool(raw["inferred"])
        it.evidence = Evidence.from_state(taxonomy, raw["evidence"])
        it.skus = {str(k): int(v) for k, v in raw["skus"].items()}
        it.best_score, it.best_seq = float(raw["best_score"]), int(raw["best_seq"])
        it.best_box = np.asarray(raw["best_box"], dtype=np.float64).reshape(4)
        it.best_crop = None if raw["best_crop"] is None else base64.b64decode(raw["best_crop"])
        it.views = views_from_state(raw.get("views") or [])  # snapshots from before the grader have none
        it.emitted = bool(raw["emitted"])
        it.ended_seq = None if raw["ended_seq"] is None else int(raw["ended_seq"])
        return it
