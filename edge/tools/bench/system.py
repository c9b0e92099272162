"""What a benchmark needs to know about the machine and a process: CPU, cores, memory of a pid (Linux /proc)."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def machine_name() -> str:
    """CPU model and core count, e.g. ``Intel(R) Xeon(R) Processor, 2 cores``; the host name as a fallback."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 0
    return f"{model or platform.processor() or platform.node()}, {cores} cores"


def _status_kib(pid: int, key: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def rss_mib(pid: int) -> float | None:
    """Resident memory of ``pid`` now, MiB (None where /proc is not readable)."""
    kib = _status_kib(pid, "VmRSS")
    return None if kib is None else kib / 1024


def peak_rss_mib(pid: int) -> float | None:
    """Peak resident memory of ``pid`` since it started (VmHWM), MiB."""
    kib = _status_kib(pid, "VmHWM")
    return None if kib is None else kib / 1024
