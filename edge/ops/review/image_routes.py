"""Images by flag id: ``GET /review/crops/{flag_id}`` (the saved crop) and ``GET /review/frames/{flag_id}`` (the whole
frame of the item's best view, with its box drawn).

URLs name a flag id, never a file: the bytes come from the store, so there is no path to traverse. The id segment is
a typed `FlagId` (digits only, bounded); ``../``, ``%2e%2e``, encoded slashes and backslashes are 404 without
echoing them (`edge.ops.review.api_route`).
"""

# No `from __future__ import annotations`: the handlers' Annotated dependencies are local to the factory.
from typing import Annotated

import cv2
import numpy as np
from fastapi import APIRouter, Depends
from sqlalchemy import Connection
from starlette.responses import Response

from edge.ops.review.api_models import FlagId
from edge.ops.review.api_route import ReviewApiRoute
from edge.ops.review.context import PREFIX, Principal, ReviewContext
from edge.ops.review.errors import NotFound
from edge.store.errors import NotFoundError
from edge.store.frame_images import flag_frame
from edge.store.items import get_crop
from edge.store.review_queue import get_entry
from edge.store.reviews import FrameImage, QueueEntry

_CURRENT = (40, 40, 230)  # BGR red: the box as it stands (the reviewer's fix, else the model's)
_DETECTED = (0, 200, 255)  # amber: the model's own box, when a reviewer moved it
_OTHER = (200, 200, 200)  # grey: the other detections in the frame


def draw_frame(frame: FrameImage, entry: QueueEntry) -> bytes:
    """The frame's JPEG with the other detections (thin grey), the model's box when it was fixed (amber) and the
    current box (thick red, labelled) drawn on it."""
    image = cv2.imdecode(np.frombuffer(frame.jpeg, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise NotFound("the stored frame cannot be decoded")
    scale = max(1, round(max(image.shape[:2]) / 640))
    for det in frame.detections:
        if entry.detected_box is not None and _same(det.box, entry.detected_box):
            continue
        _rect(image, det.box, _OTHER, scale)
    if entry.detected_box is not None and entry.box is not None and not _same(entry.box, entry.detected_box):
        _rect(image, entry.detected_box, _DETECTED, scale)
    box = entry.box or entry.detected_box
    if box is not None:
        _rect(image, box, _CURRENT, 2 * scale)
        label = f"#{entry.flag_id} {entry.produce} {entry.condition}"
        x0, y0 = int(box[0]), max(int(box[1]) - 6 * scale, 12 * scale)
        cv2.putText(image, label, (x0, y0), cv2.FONT_HERSHEY_SIMPLEX, 0.5 * scale, _CURRENT, scale, cv2.LINE_AA)
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 88])
    if not ok:
        raise NotFound("the stored frame cannot be encoded")
    return buf.tobytes()


def _same(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return all(abs(x - y) < 0.5 for x, y in zip(a, b, strict=True))


def _rect(image: np.ndarray, box: tuple[float, ...], colour: tuple[int, int, int], thickness: int) -> None:
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    cv2.rectangle(image, (x0, y0), (x1, y1), colour, thickness, cv2.LINE_AA)


def router(ctx: ReviewContext) -> APIRouter:
    """The image routes of ``ctx``."""
    r = APIRouter(prefix=PREFIX, include_in_schema=False, route_class=ReviewApiRoute)
    Reader = Annotated[Principal, Depends(ctx.principal)]
    ReadTx = Annotated[Connection, Depends(ctx.read_transaction, scope="function")]

    @r.get("/crops/{flag_id}")
    def crop(flag_id: FlagId, who: Reader, tx: ReadTx) -> Response:
        """The JPEG crop saved with the flag."""
        try:
            jpeg = get_crop(tx, flag_id)
        except NotFoundError:
            raise NotFound("no crop for that flag") from None
        return Response(jpeg, media_type="image/jpeg")

    @r.get("/frames/{flag_id}")
    def frame(flag_id: FlagId, who: Reader, tx: ReadTx) -> Response:
        """The whole frame of the flagged item's best view, boxes drawn."""
        try:
            entry = get_entry(tx, flag_id)
            image = flag_frame(tx, flag_id)
        except NotFoundError:
            raise NotFound("no frame stored for that flag") from None
        return Response(draw_frame(image, entry), media_type="image/jpeg",
                        headers={"x-frame-width": str(image.width), "x-frame-height": str(image.height)})

    return r
