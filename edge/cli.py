"""`qc` commands contributed by the edge package (registered through the ``qc.commands`` entry point)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the edge commands to the root `qc` app."""
    from edge.demo import demo

    app.command("demo")(demo)
    from edge.capture.cli import capture

    app.command("capture")(capture)
    from edge.service.command import serve

    app.command("serve")(serve)
    from edge.inspect import inspect

    app.command("inspect")(inspect)
