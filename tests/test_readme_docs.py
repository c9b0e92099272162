"""The README as a new user reads it: its links lead to files in this repository, and the POST /frames section
states what the service does (checked against the wire format's own constants)."""

from __future__ import annotations

import re
from pathlib import Path

from edge.protocol import FRAMES_PATH, HTTP_STATUS, TAG_KEYS
from edge.service.multipart import MAX_PARTS

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def _section(text: str, heading: str) -> str:
    start = text.index(heading + "\n")
    end = re.compile(r"^#{2,3} ", re.MULTILINE).search(text, start + len(heading) + 1)
    return text[start: end.start() if end else len(text)]


def test_every_relative_link_is_a_file_of_the_repository() -> None:
    """The README's first link used to point at ../shared/DESIGN.md, outside the repository: a user has no such
    file."""
    targets = [t for t in LINK.findall(README) if "://" not in t]
    assert targets, "the README links to its own files"
    for target in targets:
        path = (ROOT / target).resolve()
        assert path.is_relative_to(ROOT), f"{target} points outside the repository"
        assert path.exists(), f"{target} does not exist"
    first = LINK.search(README)
    assert first is not None and first.group(1) == "ARCHITECTURE.md"


def test_architecture_document_covers_the_system() -> None:
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    headings = ("## The loop, as data", "## Packages", "## The values that flow", "## Embedded defaults and scale-out")
    for heading in headings:
        assert heading in text
    for value in ("`Frame`", "`Detections`", "`Item`", "`Review`", "`ModelCard`"):
        assert value in text
    assert "../shared" not in text


def test_post_frames_section_states_the_protocol() -> None:
    section = _section(README, "### POST /frames")
    assert FRAMES_PATH == "/frames" and "/openapi.json" in section
    for header in ("Authorization: Bearer", "X-Camera-Id", "X-Seq", "X-Captured-At", "X-Tags"):
        assert header in section
    assert all(f"`{key}`" in section for key in TAG_KEYS)
    assert "image/jpeg" in section and "multipart/form-data" in section and f"at most {MAX_PARTS}" in section
    for status in {200, 409, 503, 400, *HTTP_STATUS.values()}:
        assert f"`{status}`" in section, f"HTTP {status} missing"
    assert "Retry-After" in section
