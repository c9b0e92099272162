"""`qc` commands contributed by the edge package (registered through the ``qc.commands`` entry point)."""

from __future__ import annotations

from collections.abc import Callable

import typer


def register(app: typer.Typer) -> None:
    """Add the edge commands to the root `qc` app."""
    from edge.tools.demo import demo

    app.command("demo")(demo)
    from edge.capture.cli import capture

    app.command("capture")(capture)
    from edge.service.command import serve

    app.command("serve")(serve)
    from edge.tools.inspect_cli import inspect

    app.command("inspect")(inspect)
    from edge.tools.count_table_cli import count_table

    app.command("count-table")(count_table)
    from edge.tools.bench.command import bench

    app.command("bench")(bench)
    from edge.monitoring.cli import monitor

    app.command("monitor")(monitor)
    from edge.ops.feed.cli import app as waste_app

    app.add_typer(waste_app, name="waste")
    from edge.ops.review.cli import app as users_app

    app.add_typer(users_app, name="users")
    from edge.ops.retrain.cli import from_reviews

    _group_command(app, "dataset", "from-reviews", from_reviews)


def _group_command(app: typer.Typer, group: str, name: str, command: Callable[..., None]) -> None:
    """Add ``command`` to the root's ``group``, which another package may also contribute to (`qc dataset` is
    training's): joined when the group is already registered; otherwise registered here and merged by the root."""
    for info in app.registered_groups:
        if info.name == group and info.typer_instance is not None:
            info.typer_instance.command(name)(command)
            return
    sub = typer.Typer(help="Data sets for training.", no_args_is_help=True)
    sub.command(name)(command)
    app.add_typer(sub, name=group)
