"""`qc serve`: run the inference service (or only validate its configuration)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


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
        }
        typer.echo(json.dumps(summary, indent=2))
        return
    if not cfg.cameras:
        typer.secho("warning: no cameras configured; every frame will be refused", err=True, fg=typer.colors.YELLOW)
    from edge.service.server import run  # uvicorn and the app only when serving

    run(cfg)
