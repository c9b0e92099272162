"""The `qc` command line: a root that each package extends through the ``qc.commands`` entry points.

The root lives in `vision` (the base layer) and finds `training` and `edge` commands by entry point,
so no package imports upward and an edge node without the training extra still gets a working `qc`.
"""

from __future__ import annotations

import sys
from importlib.metadata import entry_points

import typer

from vision.errors import QCError


# Help text is wrapped to the terminal but never wider than this: long lines are hard to read.
HELP_MAX_WIDTH = 100


def build_app() -> typer.Typer:
    """The root app with every installed package's commands registered."""
    app = typer.Typer(
        name="qc",
        help="Conveyor QC: detect, track, count and score produce on warehouse conveyors.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
        # Subcommands inherit the width from the root's context.
        context_settings={"max_content_width": HELP_MAX_WIDTH},
    )
    for ep in sorted(entry_points(group="qc.commands"), key=lambda e: e.name):
        ep.load()(app)
    _merge_groups(app)
    _plain_help(app)
    return app


def _plain_help(app: typer.Typer) -> None:
    """Use click's plain help layout for every command and group, here once for all packages' commands.

    typer's rich layout squeezes options into a fixed table: at 80 columns it truncated option names, defaults and
    environment variables with "…", and it labelled every option with a type, even flags and --help (`<bool>`).
    Click's layout wraps the help under each option instead, so nothing is cut, and shows a value only where an
    option takes one (choices as `ops|admin`). Each group keeps its own setting, so each is switched here.
    """
    app.rich_markup_mode = None
    for info in app.registered_groups:
        if info.typer_instance is not None:
            _plain_help(info.typer_instance)


def _merge_groups(app: typer.Typer) -> None:
    """Groups that several packages register under one name (`qc dataset`: training + edge) become one."""
    last = {info.name: info for info in app.registered_groups}
    for info in list(app.registered_groups):
        keep = last[info.name]
        if info is not keep and info.typer_instance is not None and keep.typer_instance is not None:
            keep.typer_instance.registered_commands.extend(info.typer_instance.registered_commands)
            keep.typer_instance.registered_groups.extend(info.typer_instance.registered_groups)
            app.registered_groups.remove(info)


def main() -> None:
    """Console entry point: runs `qc`, turning errors a user can cause into one clear line and exit code 2."""
    try:
        build_app()(standalone_mode=True)
    except QCError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        sys.exit(2)


if __name__ == "__main__":
    main()
