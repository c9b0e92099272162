"""`qc dataset import-yolo|import-coco|manifest`: bring real data onto the taxonomy and fingerprint data sets."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from training.importers import ImportReport
    from training.importers.mapping import LabelMapping
    from training.manifest import Manifest

app = typer.Typer(help="Import real data sets onto the taxonomy; hash and count data sets.", no_args_is_help=True)

# Shared option types: both importers take them with the same meaning.
OutOpt = Annotated[Path, typer.Option("--out", help="New output folder (must not exist or be empty).")]
MapOpt = Annotated[
    Path,
    typer.Option("--map", help="Mapping YAML: source class -> produce/condition (see datasets/mappings/example.yaml)."),
]
DropOpt = Annotated[
    bool,
    typer.Option("--drop-unmapped", help="Drop boxes of source classes without a rule (counted) instead of failing."),
]
ValOpt = Annotated[float, typer.Option("--val-fraction", help="Share of images for val when the source has no splits.")]
TestOpt = Annotated[
    float, typer.Option("--test-fraction", help="Share of images for test when the source has no splits.")
]
CopyOpt = Annotated[
    bool, typer.Option("--copy", help="Always copy images (default: hard-link when on the same file system).")
]
TaxOpt = Annotated[
    Path | None, typer.Option("--taxonomy", help="Taxonomy YAML. Default: $QC_TAXONOMY or vision/taxonomy.yaml.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as one JSON object on stdout.")]

_SHOWN_SKIPS = 20


@app.command("import-yolo")
def import_yolo_cmd(
    src: Annotated[
        Path, typer.Argument(help="YOLO folder: images/ + labels/ (flat or per split) and data.yaml or classes.txt.")
    ],
    out: OutOpt,
    mapping: MapOpt,
    drop_unmapped: DropOpt = False,
    val_fraction: ValOpt = 0.1,
    test_fraction: TestOpt = 0.0,
    copy: CopyOpt = False,
    taxonomy: TaxOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Import a YOLO-format folder: classes mapped onto the taxonomy, splits kept or assigned by file name,
    data.yaml and manifest.json written."""
    from training.importers.yolo import import_yolo

    label_mapping = _load_mapping(mapping, taxonomy)
    with _progress() as advance:
        report = import_yolo(
            src,
            out,
            label_mapping,
            drop_unmapped=drop_unmapped,
            val_fraction=val_fraction,
            test_fraction=test_fraction,
            link=not copy,
            progress=advance,
        )
    _print_report(report, as_json)


@app.command("import-coco")
def import_coco_cmd(
    annotations: Annotated[Path, typer.Argument(help="COCO detection JSON (images, annotations, categories).")],
    images: Annotated[
        Path,
        typer.Option(
            "--images",
            help="Folder the JSON's file_name entries are relative to; their sub-folders become part of the output "
            "file name (train/x.jpg -> train__x.jpg).",
        ),
    ],
    out: OutOpt,
    mapping: MapOpt,
    split: Annotated[
        str | None, typer.Option("--split", help="Put every image into this split (train/val/test) instead of hashing.")
    ] = None,
    drop_unmapped: DropOpt = False,
    val_fraction: ValOpt = 0.1,
    test_fraction: TestOpt = 0.0,
    copy: CopyOpt = False,
    taxonomy: TaxOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Import a COCO JSON file: categories by name onto the taxonomy, pixel boxes normalised, crowd boxes dropped."""
    from training.importers.coco import import_coco

    label_mapping = _load_mapping(mapping, taxonomy)
    with _progress() as advance:
        report = import_coco(
            annotations,
            images,
            out,
            label_mapping,
            drop_unmapped=drop_unmapped,
            split=split,
            val_fraction=val_fraction,
            test_fraction=test_fraction,
            link=not copy,
            progress=advance,
        )
    _print_report(report, as_json)


@app.command("manifest")
def manifest_cmd(
    dataset: Annotated[Path, typer.Argument(help="Data set folder (with data.yaml) or its data.yaml.")],
    write: Annotated[bool, typer.Option("--write", help="Also (re)write DATASET/manifest.json.")] = False,
    check: Annotated[
        bool, typer.Option("--check", help="Fail (exit 2) if the content differs from the stored manifest.json.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Compute a data set's content hash and its counts per split and class."""
    from training.manifest import build_manifest, verify_manifest, write_manifest

    folder = dataset.parent if dataset.is_file() else dataset
    if check:
        manifest = verify_manifest(folder)
    elif write:
        manifest = write_manifest(folder)
    else:
        manifest = build_manifest(dataset)
    if as_json:
        typer.echo(manifest.to_json(), nl=False)
        return
    _print_manifest(manifest)


def _load_mapping(path: Path, taxonomy: Path | None) -> LabelMapping:
    from training.importers.mapping import load_mapping
    from vision.taxonomy import Taxonomy

    return load_mapping(path, Taxonomy.load(taxonomy))


@contextmanager
def _progress() -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr for the writing phase; yields the importers' (done, total) callback.

    The bar appears with the first written image, so an import that fails while checking its input prints
    nothing but the error line.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(
        TextColumn("writing"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = bar.add_task("write", total=None)

    def advance(done: int, total: int) -> None:
        if not bar.live.is_started:
            bar.start()
        bar.update(task, completed=done, total=total)

    try:
        yield advance
    finally:
        if bar.live.is_started:
            bar.stop()


def _print_report(report: ImportReport, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
        return
    images = report.images
    typer.echo(f"imported {report.source} -> {report.out_dir}")
    typer.echo(
        f"images: {sum(images.values())} (train {images['train']}, val {images['val']}, test {images['test']}), "
        f"{report.negatives} without boxes; {report.linked} linked, {report.copied} copied"
    )
    typer.echo("boxes per class:")
    for name, count in report.boxes.items():
        typer.echo(f"  {name:<24} {count}")
    for label, counter in (("ignored (rule 'ignore')", report.ignored), ("dropped (no rule)", report.dropped_unmapped)):
        if counter:
            typer.echo(f"{label}: " + ", ".join(f"{name} {n}" for name, n in sorted(counter.items())))
    if report.crowd:
        typer.echo(f"crowd annotations dropped: {report.crowd}")
    if report.clipped:
        typer.echo(f"boxes clipped to the image: {report.clipped}")
    if report.skipped:
        reasons = ", ".join(f"{reason} ({n})" for reason, n in report.skipped_by_reason.items())
        typer.echo(f"skipped {len(report.skipped)}: {reasons}")
        for s in report.skipped[:_SHOWN_SKIPS]:
            typer.echo(f"  {s.where}: {s.reason}")
        if len(report.skipped) > _SHOWN_SKIPS:
            typer.echo(f"  ... and {len(report.skipped) - _SHOWN_SKIPS} more (all of them with --json)")
    for warning in report.warnings:
        typer.secho(f"warning: {warning}", err=True, fg=typer.colors.YELLOW)
    if report.manifest:
        typer.echo(f"content hash: {report.manifest.content_hash}  ({report.out_dir / 'manifest.json'})")


def _print_manifest(manifest: Manifest) -> None:
    typer.echo(f"content hash: {manifest.content_hash}")
    typer.echo(f"images: {manifest.images} ({manifest.files} files hashed)")
    for split, counts in manifest.splits.items():
        typer.echo(f"  {split:<6} {counts.images} images, {counts.boxes} boxes, {counts.negatives} without boxes")
    typer.echo("boxes per class:")
    for name, count in manifest.instances.items():
        if count:
            typer.echo(f"  {name:<24} {count}")
    empty = [name for name, count in manifest.instances.items() if not count]
    if empty:
        typer.echo(f"classes without boxes: {', '.join(empty)}")
