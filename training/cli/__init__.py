"""`qc` commands contributed by the training package (registered through the ``qc.commands`` entry point)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the training commands to the root `qc` app."""
    from training.cli import (
        dataset, eval_photos, evaluate, export, grader_ensemble, quantize, real_data, registry, retrain, synth, train,
        train_grader,
    )

    app.add_typer(synth.app, name="synth")
    dataset.app.command("real-prep")(real_data.real_prep)
    dataset.app.command("mix")(real_data.mix)
    dataset.app.command("grader-crops")(real_data.grader_crops)
    app.add_typer(dataset.app, name="dataset")
    app.add_typer(registry.app, name="registry")
    app.command("train")(train.train)
    app.command("train-grader")(train_grader.train_grader)
    app.command("grader-ensemble")(grader_ensemble.grader_ensemble)
    app.command("export")(export.export)
    app.command("eval")(evaluate.evaluate)
    app.command("eval-photos")(eval_photos.eval_photos)
    app.command("pool-folds")(eval_photos.pool_folds)
    app.command("compare-photos")(eval_photos.compare_photos)
    app.command("quantize")(quantize.quantize)
    app.command("retrain")(retrain.retrain)
