"""`qc` commands contributed by the training package (registered through the ``qc.commands`` entry point)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the training commands to the root `qc` app."""
    from training.cli import dataset, evaluate, export, quantize, registry, retrain, synth, train

    app.add_typer(synth.app, name="synth")
    app.add_typer(dataset.app, name="dataset")
    app.add_typer(registry.app, name="registry")
    app.command("train")(train.train)
    app.command("export")(export.export)
    app.command("eval")(evaluate.evaluate)
    app.command("quantize")(quantize.quantize)
    app.command("retrain")(retrain.retrain)
