"""The interactive API docs (CDN scripts) only when configured, with a CSP; and the service's one error path:
whatever a route fails on is a JSON answer with the security headers. The app runs on a real uvicorn without its
lifespan (no model needed for these paths)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI
from service_harness import service_config

from edge.service.app import create_app


@contextmanager
def serve_without_lifespan(app: FastAPI) -> Iterator[str]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_docs_on_when_configured_with_a_csp(tmp_path: Path) -> None:
    app = create_app(service_config(tmp_path, tmp_path, service={"host": "127.0.0.1", "port": 0, "api_docs": True}))
    with serve_without_lifespan(app) as url:
        for path in ("/docs", "/redoc"):
            r = httpx.get(url + path)
            assert r.status_code == 200
            csp = r.headers["content-security-policy"]
            assert "script-src" in csp and "https://cdn.jsdelivr.net" in csp and "frame-ancestors 'none'" in csp
            assert r.headers["x-content-type-options"] == "nosniff"
        assert httpx.get(url + "/openapi.json").status_code == 200


def test_what_a_route_fails_on_is_json_with_the_headers(tmp_path: Path) -> None:
    app = create_app(service_config(tmp_path, tmp_path))

    def nested() -> None:  # what any parser does on input nested deeper than it recurses
        raise RecursionError("maximum recursion depth exceeded")

    def broken() -> None:
        raise KeyError("a bug")

    app.add_api_route("/nested", nested)
    app.add_api_route("/broken", broken)
    with serve_without_lifespan(app) as url:
        r = httpx.get(url + "/nested")
        assert (r.status_code, r.json()) == (400, {"error": "malformed request"})
        assert r.headers["x-content-type-options"] == "nosniff" and "content-security-policy" in r.headers
        r = httpx.get(url + "/broken")
        assert (r.status_code, r.json()) == (500, {"error": "internal error"})
        assert "content-security-policy" in r.headers and "a bug" not in r.text
