"""`qc serve`: run the inference service (or only validate its configuration)."""

from __future__ import annotations

import contextlib
import json
import signal
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

NO_CAMERA = (
    "no camera is configured, so every frame will be refused; add one under `cameras:` in the YAML file given with "
    "--config (e.g. `cameras: [{id: belt1, token: <8+ chars>}]`) or with QC_CAMERAS='[{\"id\": \"belt1\", "
    "\"token\": \"...\"}]'"
)


def serve(
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="YAML configuration file; QC_* environment variables override it."),
    ] = None,
    validate_config: Annotated[
        bool, typer.Option("--validate-config", help="Check the configuration, print a summary and exit.")
    ] = False,
) -> None:
    """Run the inference service: camera frames in over WebSocket or POST, items counted and scored, /metrics."""
    from edge.config import load_config  # here, not at the top: registering the command must stay cheap

    cfg = load_config(config)  # ConfigError names every bad key; the CLI root prints it and exits 2
    if validate_config:
        summary = {
            "valid": True,
            "config": str(config) if config else None,
            "cameras": [c.id for c in cfg.cameras],
            "listen": f"{cfg.service.host}:{cfg.service.port}",
            "store": cfg.store_url,
            "model": {"registry_root": str(cfg.model.registry_root) if cfg.model.registry_root else None,
                      "version": cfg.model.version},
            "warnings": [] if cfg.cameras else [NO_CAMERA],
        }
        if not cfg.cameras:  # valid, but a service that refuses every frame is rarely what was meant
            typer.secho(f"warning: {NO_CAMERA}", err=True, fg=typer.colors.YELLOW)
        typer.echo(json.dumps(summary, indent=2))
        return
    if not cfg.cameras:
        typer.secho(f"warning: {NO_CAMERA}", err=True, fg=typer.colors.YELLOW)
    from edge.service.server import run  # uvicorn and the app only when serving

    with _clean_exit_on_signal():
        run(cfg)


@contextlib.contextmanager
def _clean_exit_on_signal() -> Iterator[None]:
    """Exit 0 when SIGTERM or SIGINT stops the service.

    uvicorn shuts down cleanly on these signals and then raises the same signal again with the handler that was there
    before it started; Python's default handlers would then end the process with 143 (SIGTERM) or a
    KeyboardInterrupt, which a supervisor reads as a crash. With these handlers the re-raised signal, or one that
    comes before uvicorn took over (nothing to shut down yet), ends the process with 0.
    """

    def stop(signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(0)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
