"""The monitoring service tests reuse the service tests' harness (a real uvicorn, real WebSocket clients)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "service"))
