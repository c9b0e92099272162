"""`qc dataset from-reviews`: the reviewed frames, corrected labels applied, as a data set ready for `qc train`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def from_reviews(
    out: Annotated[Path, typer.Option("--out", help="New output folder (must not exist or be empty).")],
    db: Annotated[
        str | None, typer.Option("--db", help="Store URL (sqlite:///... or postgresql://...). Default: --config's.")
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Service YAML whose store to read when --db is not given.")
    ] = None,
    taxonomy: Annotated[
        Path | None,
        typer.Option(
            "--taxonomy", help="Taxonomy YAML naming the classes. Default: $QC_TAXONOMY or vision/taxonomy.yaml."
        ),
    ] = None,
    val_fraction: Annotated[
        float, typer.Option("--val-fraction", help="Share of frames for val (by file-name hash, stable).")
    ] = 0.2,
) -> None:
    """Write every reviewed frame (best frame of a confirmed or rejected flag) with the reviewers' relabels and box
    fixes applied, other items in the frame keeping their detections, as images/ + labels/ + data.yaml +
    manifest.json. Prints a JSON summary on stdout."""
    from rich.console import Console
    from rich.progress import Progress

    from edge.config import load_config
    from edge.ops.retrain.writer import write_from_reviews
    from edge.store import Store
    from edge.store.review_samples import read_samples
    from vision.taxonomy import Taxonomy

    tax = Taxonomy.load(taxonomy)
    url = db or load_config(config).store_url
    with Store.open(url) as store, Progress(transient=True, console=Console(stderr=True)) as bar:
        task = bar.add_task("reviewed frames", total=None)
        report = write_from_reviews(
            read_samples(store), out, tax, store_url=store.url, val_fraction=val_fraction,
            progress=lambda n: bar.update(task, completed=n),
        )
    typer.echo(json.dumps(report.to_dict()))
