"""Fixtures of the rollout tests: the service harness (real uvicorn, real clients) and small registries."""

from __future__ import annotations

import sys
from pathlib import Path

# The service tests' harness (RunningService, clients, clip frames) is shared, not copied.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "service"))
