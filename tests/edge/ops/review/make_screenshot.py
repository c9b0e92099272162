"""Render the README's screenshot of the review page: ``python tests/edge/ops/review/make_screenshot.py OUT.png``.

The same seeded world as the tests (a real store, real uvicorn, Debian's Chromium), with a few decisions made so
every kind of row shows.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from browser import chromium  # noqa: E402
from review_world import ADMIN_USER, OPS_PASSWORD, OPS_USER, review_app, review_settings, seed_store, serve  # noqa: E402

from edge.store.review_repo import apply_review
from edge.store.store import Store  # noqa: E402
from store_tx import write


def main(out: Path) -> None:
    """Write the screenshot to ``out``."""
    with tempfile.TemporaryDirectory() as tmp, Store.open(f"sqlite:///{tmp}/qc.sqlite3") as store:
        seed_store(store)
        write(store, apply_review, 1, "confirm_waste", OPS_USER)
        write(store, apply_review, 3, "relabel", OPS_USER, produce="apple")
        write(store, apply_review, 4, "not_waste", ADMIN_USER)
        with serve(review_app(store, review_settings(page_size=25))) as url, chromium() as browser:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(f"{url}/review/login?next=/review%3Fstatus%3Dall")
            page.fill("input[name=username]", OPS_USER)
            page.fill("input[name=password]", OPS_PASSWORD)
            page.click("form.login button[type=submit]")
            page.wait_for_selector("#queue tr.entry")
            page.keyboard.press("j")
            page.locator("#flag-5 input.pick").check()
            page.evaluate("document.getElementById('status').textContent = '#1: confirmed waste (u undoes)'")
            page.screenshot(path=str(out))


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "screenshot.png"))
