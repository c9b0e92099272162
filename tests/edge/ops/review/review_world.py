"""A small real world for the review-page tests: a SQLite store holding counted items (some flagged, with real JPEG
crops and whole frames drawn by OpenCV), users in the config and in the store, and the review app served by a real
uvicorn on a free port."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import cv2
import httpx
import numpy as np
import uvicorn
from fastapi import FastAPI
from store_tx import read

from edge.ops.review import include_review
from edge.review_settings import ReviewSection, ReviewUserSection
from edge.store.review_queue import query_queue
from edge.store.reviews import FrameDetection
from edge.store.store import Store
from edge.store.users import ScryptCost, hash_password
from edge.tracking.item import Item

W, H = 640, 360
# Produce colours (BGR) and the look of each condition: spots get darker and larger as produce goes off.
COLOURS = {"apple": (40, 40, 200), "banana": (60, 220, 240), "orange": (30, 140, 250), "tomato": (50, 50, 230)}
SPOTS = {"fresh": 0, "bruised": 2, "overripe": 4, "rotten": 7}

OPS_USER, OPS_PASSWORD = "olga", "conveyor-olga-pw"  # in the config file
ADMIN_USER, ADMIN_PASSWORD = "ada", "conveyor-ada-pw"  # in the store
CAMERA_TOKEN = "camera-belt1-token"


@dataclass(frozen=True)
class Planned:
    """One item to seed: which camera, what it is, when it crossed, and whether the model flagged it."""

    camera_id: str
    produce: str
    condition: str
    freshness: float
    flagged: bool
    minutes_ago: float


# Oldest first. Flagged: 2 apples, 2 bananas, 1 tomato (on two cameras); plus good items for "inspected".
PLAN: tuple[Planned, ...] = (
    Planned("belt1", "apple", "rotten", 0.05, True, 180),
    Planned("belt1", "banana", "overripe", 0.30, True, 170),
    Planned("belt1", "apple", "fresh", 0.95, False, 165),
    Planned("belt2", "tomato", "rotten", 0.10, True, 160),
    Planned("belt1", "apple", "bruised", 0.40, True, 150),
    Planned("belt2", "banana", "rotten", 0.08, True, 140),
    Planned("belt2", "orange", "fresh", 0.97, False, 130),
)


def render_frame(seed: int, objects: list[tuple[tuple[int, int, int, int], str, str]]) -> np.ndarray:
    """A belt frame (BGR) with each (box, produce, condition) drawn as a spotted round fruit."""
    rng = np.random.default_rng(seed)
    image = np.full((H, W, 3), (92, 96, 100), np.uint8)
    for y in range(0, H, 24):  # belt slats, so the frame looks like a conveyor
        cv2.line(image, (0, y), (W, y), (80, 84, 88), 2)
    for (x0, y0, x1, y1), produce, condition in objects:
        centre = ((x0 + x1) // 2, (y0 + y1) // 2)
        axes = ((x1 - x0) // 2, (y1 - y0) // 2)
        cv2.ellipse(image, centre, axes, 0, 0, 360, COLOURS[produce], -1, cv2.LINE_AA)
        for _ in range(SPOTS[condition]):
            cx = int(rng.integers(x0 + axes[0] // 2, x1 - axes[0] // 2))
            cy = int(rng.integers(y0 + axes[1] // 2, y1 - axes[1] // 2))
            cv2.circle(image, (cx, cy), int(rng.integers(4, 9)), (20, 40, 60), -1, cv2.LINE_AA)
    return image


def jpeg(image: np.ndarray) -> bytes:
    """JPEG bytes of a BGR image."""
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()


def seed_store(store: Store, now: datetime | None = None) -> dict[str, list[int]]:
    """Commit `PLAN` through the store's real write path: one frame per item (its counting frame, also its best
    frame), the crop of flagged items and the whole frame with its detections (a neighbour included).

    Returns produce -> flag ids (oldest first).
    """
    now = now or datetime.now(timezone.utc)
    flags: dict[str, list[int]] = {}
    seqs = {"belt1": 100, "belt2": 500}
    for track, p in enumerate(PLAN, start=1):
        seq = seqs[p.camera_id]
        seqs[p.camera_id] += 30
        t = (now - timedelta(minutes=p.minutes_ago)).timestamp()
        box = (220 + 10 * track, 110, 340 + 10 * track, 230)
        neighbour = (40, 200, 130, 290)
        image = render_frame(track, [(box, p.produce, p.condition), (neighbour, "orange", "fresh")])
        x0, y0, x1, y1 = box
        item = Item(
            camera_id=p.camera_id, track_id=track, first_seq=seq - 10, last_seq=seq + 10, first_seen_at=t - 0.5,
            last_seen_at=t + 0.5, counted_seq=seq, produce=p.produce, condition=p.condition, freshness=p.freshness,
            flagged=p.flagged, votes={p.produce: 12}, frames=12, best_box=(float(x0), float(y0), float(x1), float(y1)),
            best_seq=seq, model_version="v0003", best_crop_jpeg=jpeg(image[y0:y1, x0:x1]) if p.flagged else None,
        )
        store.commit_frame(p.camera_id, seq, t, t + 0.05, "v0003", 2, [item], None)
        if p.flagged:
            dets = [
                FrameDetection(box=item.best_box, produce=p.produce, condition=p.condition, confidence=0.9,
                               freshness=p.freshness, track_id=track),
                FrameDetection(box=tuple(float(v) for v in neighbour), produce="orange", condition="fresh",
                               confidence=0.8, freshness=0.97),
            ]
            store.save_frame_image(p.camera_id, seq, jpeg(image), W, H, dets, captured_at=t)
    for entry in read(store, query_queue, status="all", limit=500):
        flags.setdefault(entry.produce, []).append(entry.flag_id)
    return flags


def review_settings(**changes: object) -> ReviewSection:
    """The review section the tests serve with: an ops user from the config file (cheap scrypt cost for speed)."""
    cheap = ScryptCost(log2_n=10)
    user = ReviewUserSection(name=OPS_USER, role="ops", password_hash=hash_password(OPS_PASSWORD, cheap))
    return ReviewSection(**{"users": [user], "poll_interval_s": 0.5, "page_size": 3, **changes})


def review_app(store: Store | Callable[[Any], Store], settings: ReviewSection) -> FastAPI:
    """A FastAPI app serving only the review page, on ``store`` (or the store a callable returns per request)."""
    app = FastAPI()
    include_review(app, store if callable(store) else (lambda request: store), settings)
    return app


@contextmanager
def serve(app: FastAPI, lifespan: str = "off") -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free port of 127.0.0.1 in a thread; yields the base URL once started (after
    the app's lifespan start-up, with ``lifespan="on"``)."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan=lifespan))
    thread = threading.Thread(target=server.run, name="review-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def sign_in(base_url: str, user: str, password: str) -> tuple[httpx.Client, str]:
    """An HTTP client signed in as ``user`` through the sign-in form, and the session's CSRF token."""
    client = httpx.Client(base_url=base_url, follow_redirects=False, timeout=20)
    form = client.get("/review/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    if token is None:
        raise AssertionError("the sign-in form has no CSRF field")
    resp = client.post("/review/login", data={"username": user, "password": password, "csrf_token": token.group(1)})
    if resp.status_code != 303:
        raise AssertionError(f"sign-in failed: {resp.status_code}")
    page = client.get("/review")
    csrf = re.search(r'<meta name="csrf-token" content="([^"]+)">', page.text)
    if csrf is None:
        raise AssertionError("the queue page has no CSRF token")
    return client, csrf.group(1)
