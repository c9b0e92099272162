"""The review page inside the real edge service (`create_app`): served under /review with the config's users, and a
camera's bearer token, valid for sending frames, gets nowhere on the review side (nor a reviewer's session on the
camera side)."""

from __future__ import annotations

from pathlib import Path

import httpx
from review_world import CAMERA_TOKEN, OPS_PASSWORD, OPS_USER, jpeg, render_frame, seed_store, serve, sign_in
from store_tx import read

from edge.config import load_config
from edge.service.app import create_app
from edge.store.review_repo import list_reviews
from edge.store.store import Store
from edge.store.users import ScryptCost, hash_password


def test_service_serves_review_and_keeps_cameras_out(tmp_path: Path) -> None:
    config = load_config(
        None,
        data_dir=str(tmp_path),
        cameras=[{"id": "belt1", "token": CAMERA_TOKEN}],
        # No such model version: the service stays up, not ready, without loading a model (the page needs none).
        model={"registry_root": str(tmp_path / "registry"), "version": "v9999"},
        review={"users": [{"name": OPS_USER, "role": "ops",
                           "password_hash": hash_password(OPS_PASSWORD, ScryptCost(log2_n=10))}]},
    )
    with Store.open(config.store_url) as store:
        seed_store(store)
    camera = {"Authorization": f"Bearer {CAMERA_TOKEN}"}
    with serve(create_app(config), lifespan="on") as url:
        assert httpx.get(f"{url}/review", follow_redirects=False).status_code == 303
        for method, path in (("GET", "/review"), ("GET", "/review/api/queue"), ("GET", "/review/crops/1"),
                             ("POST", "/review/api/flags/1/confirm"), ("POST", "/review/api/undo")):
            assert httpx.request(method, url + path, headers=camera).status_code == 403

        # The same token is a working camera credential: the frame endpoint authenticates it (and answers 'retry'
        # or an error about the missing model, never 401/403).
        frame = {**camera, "X-Camera-Id": "belt1", "X-Seq": "1", "X-Captured-At": "1800000000.0",
                 "Content-Type": "image/jpeg"}
        answer = httpx.post(f"{url}/frames", headers=frame, content=jpeg(render_frame(1, [])))
        assert answer.status_code not in (401, 403), answer.text

        person, csrf = sign_in(url, OPS_USER, OPS_PASSWORD)
        queue = person.get("/review/api/queue")
        assert queue.status_code == 200 and queue.json()["total"] == 5
        assert person.post("/review/api/flags/1/confirm", headers={"X-CSRF-Token": csrf}).status_code == 200
        # A reviewer's session is no camera credential.
        refused = person.post("/frames", headers={k: v for k, v in frame.items() if k != "Authorization"},
                              content=jpeg(render_frame(1, [])))
        assert refused.status_code == 401
        assert httpx.get(f"{url}/healthz").status_code == 200  # the service's own routes are untouched
    with Store.open(config.store_url) as store:
        assert [(r.action, r.flag_id, r.reviewer) for r in read(store, list_reviews)] == [("confirm_waste", 1, OPS_USER)]
