"""Handing an item on: the counter's record of it becomes an `Item`, its verdict decided from the detector's
evidence, the warehouse's SKU tag and, when the served version has one, the grader run once on its kept views.
A grader with a `vision.grader.NOT_PRODUCE` class can veto the item: the detector boxed clutter (a hand, a label,
a tool), and nothing is handed on."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np

from edge.tracking.aggregate import FlagPolicy
from edge.tracking.grading import ItemGrader, graded_verdict
from edge.tracking.item import Item
from edge.tracking.record import ItemRecord
from edge.tracking.views import view_crops
from vision.grader import vetoes
from vision.taxonomy import Taxonomy

log = logging.getLogger(__name__)


def sku_produce(sku: str, mapping: Mapping[str, str], taxonomy: Taxonomy) -> str | None:
    """The produce kind a warehouse SKU tag names: its entry in ``mapping``, else the tag itself when it is a
    produce kind (any case); None when it names none."""
    if sku in mapping:
        return mapping[sku]
    low = sku.strip().lower()
    return low if low in taxonomy.produce else None


def main_sku(record: ItemRecord) -> str | None:
    """The SKU tag most of the item's frames came with (ties: the greater tag, deterministic)."""
    return max(record.skus.items(), key=lambda kv: (kv[1], kv[0]))[0] if record.skus else None


def grade_views(grader: ItemGrader | None, record: ItemRecord, camera_id: str) -> np.ndarray | None:
    """The grader's probabilities for the item's kept views, in one batch (None: no grader, no view at its size, or
    the grader failed, which is logged: the detector's verdict then stands and the frame is not lost)."""
    if grader is None:
        return None
    crops = view_crops(record.views, grader.input_size)
    if len(crops) == 0:
        return None
    try:
        return grader.grade_crops(crops)
    except Exception:  # noqa: BLE001 - a grader failure must not cost the item, or the frame that hands it on
        log.exception("camera %s: the grader failed on item %d; its detector verdict stands", camera_id, record.id)
        return None


def hand_on(
    record: ItemRecord,
    camera_id: str,
    policy: FlagPolicy,
    sku_map: Mapping[str, str],
    spoiled_vote: Mapping[str, float],
    model_version: str | None,
    grader: ItemGrader | None,
) -> Item | None:
    """The `Item` of a counted record; runs the grader (once) on its views when one is given. None when the grader
    vetoes it (`vision.grader.vetoes`: its views more likely hold no produce), which is logged."""
    sku = main_sku(record)
    produce = sku_produce(sku, sku_map, record.evidence.taxonomy) if sku is not None else None
    probs = grade_views(grader, record, camera_id)
    if grader is not None and probs is not None and len(probs) and vetoes(probs, grader.classes):
        log.info("camera %s: item %d (seq %d-%d) is no produce by the grader; not counted", camera_id, record.id,
                 record.first_seq, record.last_seq)
        return None
    verdict = graded_verdict(
        record.evidence, policy, probs, grader.classes if grader else (),
        grader.produce_weight if grader else 0.0, produce_override=produce, spoiled_vote=spoiled_vote,
    )
    return Item(
        camera_id=camera_id,
        track_id=record.id,
        first_seq=record.first_seq,
        last_seq=record.last_seq,
        first_seen_at=record.first_seen_at,
        last_seen_at=record.last_seen_at,
        counted_seq=int(record.counted_seq or 0),
        produce=verdict.produce,
        condition=verdict.condition,
        freshness=verdict.freshness,
        flagged=verdict.flagged,
        votes=verdict.votes,
        frames=record.hits,
        best_box=tuple(float(v) for v in record.best_box),  # type: ignore[arg-type]
        best_seq=record.best_seq,
        sku=sku,
        model_version=model_version,
        best_crop_jpeg=record.best_crop if verdict.flagged else None,
        inferred=record.inferred,
        graded_views=verdict.graded_views,
    )
