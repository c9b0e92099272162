"""`qc dataset real-prep|mix`: real photos split and cut out for training, and one data set of several."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    import numpy as np


def real_prep(
    root: Annotated[Path, typer.Argument(help="The real-produce folder: fresh-rotten/<produce>_<condition>/*.jpg and "
                                              "fruit-photos/{images/,annotations.json}.")],
    out: Annotated[Path, typer.Option(help="New output folder: split.json, cutouts/, clutter/, photos/.")],
    hold_out_dev: Annotated[bool, typer.Option("--hold-out-dev", help="Lay the development fifth of the training "
                                               "split out as a 'dev' split (cut-outs, clutter, photos), so detectors "
                                               "trained on 'train' never see it and can be chosen on it.")] = False,
) -> None:
    """Split the real photos (a quarter held out for validation, by content hash), cut the single fruit out of their
    backgrounds (bad masks refused, with reasons), and write an ultralytics data set of the photos themselves."""
    from training.cli.dataset import _progress
    from training.real.assemble import real_prep as run
    from vision.errors import InputError
    from vision.taxonomy import Taxonomy

    if not root.is_dir():
        raise typer.BadParameter(f"folder not found: {root}", param_hint="ROOT")
    if out.exists() and any(out.iterdir()):
        raise typer.BadParameter(f"{out} exists and is not empty; choose a new folder", param_hint="--out")
    try:
        with _progress() as advance:
            report = run(root, out, Taxonomy.load(), on_photo=advance, hold_out_dev=hold_out_dev)
    except InputError as exc:
        raise typer.BadParameter(str(exc), param_hint="ROOT") from None
    typer.echo(json.dumps(report.to_dict(), indent=1))


def mix(
    datasets: Annotated[list[Path], typer.Argument(help="Data set folders (each with data.yaml) whose train splits "
                                                         "are trained on together; name one twice to weigh it double.")],
    out: Annotated[Path, typer.Option(help="Output data set folder (must not exist): images/, labels/, data.yaml, "
                                           "manifest.json, mix.json.")],
    val: Annotated[Path, typer.Option(help="Data set whose val split picks best.pt during training; never a "
                                           "held-out real split.")],
) -> None:
    """One ultralytics data set of the train splits of several data sets (and the val split of --val): files are
    hard-linked (copied across file systems) under names prefixed with their data set's folder name, so the mix has
    its own manifest and content hash for the model card."""
    from training.mix import MixError, mix_datasets

    if out.exists():
        raise typer.BadParameter(f"{out} exists; choose a new folder", param_hint="--out")
    try:
        manifest, parts = mix_datasets(datasets, val, out)
    except MixError as exc:
        raise typer.BadParameter(str(exc), param_hint="DATASETS") from None
    typer.echo(json.dumps({"out": str(out), "hash": manifest.content_hash, "parts": parts}, indent=1))


def grader_crops(
    root: Annotated[Path, typer.Argument(help="The real-produce folder (as for real-prep); its training split only.")],
    out: Annotated[Path, typer.Option(help="Output folder: train/<class>/*.jpg, val/<class>/*.jpg, crops.json.")],
    frames: Annotated[list[Path], typer.Option("--frames", help="Detection data sets (qc synth frames, with or without "
                                                                "real cut-outs) whose boxes are cropped; repeatable.")],
    size: Annotated[int, typer.Option(min=32, max=640, help="Side of the square crops, pixels.")] = 160,
    max_per_class: Annotated[int, typer.Option(min=1, help="Crops per class and split from each data set.")] = 500,
    single_views: Annotated[int, typer.Option(min=1, max=8, help="Training crops per single-fruit photo and "
                                                                 "orientation: the mask's box, then jittered boxes.")] = 2,
    hold_out_dev: Annotated[bool, typer.Option("--hold-out-dev/--no-hold-out-dev", help="Put the development fifth "
                                               "of the real training photos in val/ (the grader picks its epoch on "
                                               "real decay) instead of train/.")] = True,
    painted_rot: Annotated[int, typer.Option(min=0, max=8, help="Rotten training crops per fresh single-fruit "
                                             "training photo: the renderer's rot painted inside the real fruit's "
                                             "checked mask (0: none).")] = 0,
    hold_out_fold: Annotated[str | None, typer.Option(help="I/K: put part I of K of the real training photos "
                                                           "(counted from 0; 0/5 is the development fifth) in val/ "
                                                           "instead of the development fifth, for a grader per "
                                                           "fold evaluated with qc eval-photos --split fold:I/K.")] = None,
    hard_negatives: Annotated[Path | None, typer.Option(help="A detector ONNX: the boxes it finds on the real "
                                                             "clutter photos (at confidence 0.1, each orientation) "
                                                             "become not_produce crops.")] = None,
) -> None:
    """Write the freshness grader's training crops, cut as the edge cuts them (vision.grader_crop)."""
    from training.cli.dataset import _progress
    from training.real.grader_data import grader_crops as run
    from training.real.split import Fold
    from vision.errors import InputError
    from vision.taxonomy import Taxonomy

    fold = None
    if hold_out_fold is not None:
        try:
            fold = Fold.parse(hold_out_fold)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--hold-out-fold") from None
    for ds in frames:
        if not (ds / "images").is_dir():
            raise typer.BadParameter(f"no images/ folder in {ds}", param_hint="--frames")
    if out.exists() and any(out.iterdir()):
        raise typer.BadParameter(f"{out} exists and is not empty", param_hint="--out")
    mine = None
    if hard_negatives is not None:
        if not hard_negatives.is_file():
            raise typer.BadParameter(f"file not found: {hard_negatives}", param_hint="--hard-negatives")
        mine = _box_finder(hard_negatives)
    try:
        with _progress() as advance:
            report = run(root, frames, out, Taxonomy.load(), size=size, max_per_class=max_per_class, on_step=advance,
                         single_views=single_views, hold_out_dev=hold_out_dev, painted_rot_views=painted_rot,
                         hold_out_fold=fold, hard_negatives=mine)
    except InputError as exc:
        raise typer.BadParameter(str(exc), param_hint="ROOT") from None
    typer.echo(json.dumps(report.to_dict(), indent=1))


# Lower than the edge's 0.25: the grader should also veto what a slightly different detector or scene would box.
HARD_NEGATIVE_CONF = 0.1


def _box_finder(model: Path) -> Callable[[np.ndarray], np.ndarray]:
    """A function from a BGR image to the (N, 4) xyxy boxes ``model`` finds in it at `HARD_NEGATIVE_CONF`."""
    from vision.decode import DecodeOptions
    from vision.detector import Detector
    from vision.taxonomy import Taxonomy

    detector = Detector(model, Taxonomy.load(), decoding=DecodeOptions(conf_threshold=HARD_NEGATIVE_CONF))

    def boxes(image: np.ndarray) -> np.ndarray:
        return detector.detect([image])[0].xyxy

    return boxes
