"""`qc synth frames|clip|piles`: synthetic conveyor data (and photo-like scenes of real cut-outs) with exact labels."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from training.synth.items import SPOILED_SHARE_DEFAULT

app = typer.Typer(help="Render synthetic conveyor frames and clips with exact labels.", no_args_is_help=True)


def _progress(label: str, total: int):  # -> rich Progress context and an advance callback
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
    from rich.console import Console

    progress = Progress(
        TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=Console(stderr=True)
    )
    task = progress.add_task(label, total=total)
    return progress, lambda *_: progress.advance(task)


def _check_size(imgsz: tuple[int, int]) -> tuple[int, int]:
    w, h = imgsz
    if not (64 <= w <= 4096 and 64 <= h <= 4096):
        raise typer.BadParameter(f"width and height must be within 64..4096, got {w} x {h}", param_hint="--imgsz")
    return w, h


def _parse_mix(text: str, option: str) -> dict[str, float]:
    mix: dict[str, float] = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        try:
            mix[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise typer.BadParameter(f"expected name=weight pairs, got {part!r}", param_hint=option)
    return mix


def _real(cutouts: Path | None, share: float, clutter: Path | None, clutter_rate: float):  # -> RealAppearance | None
    """The real appearance the options ask for, or None; bad folders are reported against their option."""
    if cutouts is None and clutter is None:
        return None
    from training.synth.frames import RealAppearance
    from training.synth.real_sprites import RealSprites
    from vision.errors import InputError

    try:
        sprites = RealSprites.load(cutouts, clutter)
    except InputError as exc:
        hint = "--real-cutouts" if cutouts is not None and str(cutouts) in str(exc) else "--clutter"
        raise typer.BadParameter(str(exc), param_hint=hint) from None
    return RealAppearance(sprites, item_share=share if cutouts is not None else 0.0, clutter_per_frame=clutter_rate)


RealCutouts = Annotated[
    Path | None,
    typer.Option(help="Folder of real cut-outs, <produce>_<condition>/*.png with alpha (qc dataset real-prep writes "
                      "them): items of those classes are drawn from real photos."),
]
RealShare = Annotated[float, typer.Option(min=0.0, max=1.0, help="Share of items of a class with cut-outs drawn "
                                                                  "from a real cut-out.")]
Clutter = Annotated[
    Path | None, typer.Option(help="Folder of real non-produce photos: patches of them lie on the belt, never labelled.")
]


@app.command("frames")
def frames(
    out: Annotated[Path, typer.Option(help="Output folder (created): images/, labels/, data.yaml, manifest.json.")],
    count: Annotated[int, typer.Option(min=1, help="Number of frames.")] = 1000,
    seed: Annotated[int, typer.Option(help="Random seed; frame i of a seed is always the same image.")] = 0,
    imgsz: Annotated[tuple[int, int], typer.Option(help="Frame width and height in pixels.")] = (640, 360),
    spoiled: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of items that are not fresh (a real line: 0.10-0.20).")
    ] = SPOILED_SHARE_DEFAULT,
    val: Annotated[float, typer.Option(min=0.0, max=1.0, help="Share of frames in the val split.")] = 0.1,
    test: Annotated[float, typer.Option(min=0.0, max=1.0, help="Share of frames in the test split.")] = 0.1,
    spoiled_mix: Annotated[
        str | None,
        typer.Option(help="Relative weights of the spoiled conditions, e.g. 'bruised=2,overripe=1,rotten=1' (default even)."),
    ] = None,
    produce_mix: Annotated[
        str | None,
        typer.Option(help="Relative weights of the produce kinds, e.g. 'apple=2,tomato=1.5,orange=1.5,banana=1' "
                          "(default even)."),
    ] = None,
    real_cutouts: RealCutouts = None,
    real_share: RealShare = 0.7,
    clutter: Clutter = None,
    clutter_rate: Annotated[float, typer.Option(min=0.0, max=20.0, help="Clutter patches per frame, on average.")] = 1.0,
    zoom: Annotated[tuple[float, float], typer.Option(help="Range of camera zoom per frame: 1 is the conveyor camera, "
                                                           "3 shows items three times larger (fewer fit).")] = (1.0, 1.0),
) -> None:
    """Render an ultralytics-format data set of top-down conveyor frames with exact YOLO labels."""
    from training.manifest import write_manifest
    from training.synth.frames import generate_frames
    from vision.taxonomy import Taxonomy

    w, h = _check_size(imgsz)
    if val + test >= 1.0:
        raise typer.BadParameter(f"val + test must leave frames for training, got {val} + {test}", param_hint="--val/--test")
    taxonomy = Taxonomy.load()
    mix = _parse_mix(spoiled_mix, "--spoiled-mix") if spoiled_mix else None
    kinds = _parse_mix(produce_mix, "--produce-mix") if produce_mix else None
    real = _real(real_cutouts, real_share, clutter, clutter_rate)
    progress, advance = _progress("frames", count)
    with progress:
        try:
            report = generate_frames(out, count, seed, taxonomy, w, h, spoiled, val, test, on_frame=advance,
                                     spoiled_mix=mix, produce_mix=kinds, real=real, zoom=zoom)
        except ValueError as exc:
            option = {"produce": "--produce-mix", "zoom": "--zoom"}.get(str(exc).split()[0], "--spoiled-mix")
            raise typer.BadParameter(str(exc), param_hint=option) from None
    manifest = write_manifest(out)
    typer.echo(json.dumps({"out": str(out), "images": report.images, "instances": report.instances,
                           "hash": manifest.content_hash}, indent=1))


@app.command("clip")
def clip(
    out: Annotated[Path, typer.Option(help="Output folder (created): clip.mp4 and truth.json.")],
    seconds: Annotated[float, typer.Option(min=0.1, help="Clip length in seconds.")] = 10.0,
    fps: Annotated[float, typer.Option(min=1.0, max=240.0, help="Frames per second.")] = 15.0,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    speed: Annotated[float, typer.Option(min=0.05, max=10.0, help="Belt speed in metres per second.")] = 1.0,
    density: Annotated[float, typer.Option(min=0.1, max=30.0, help="Items per metre of belt.")] = 3.0,
    imgsz: Annotated[tuple[int, int], typer.Option(help="Frame width and height in pixels.")] = (640, 360),
    spoiled: Annotated[float, typer.Option(min=0.0, max=1.0, help="Share of items that are not fresh.")] = SPOILED_SHARE_DEFAULT,
    real_cutouts: RealCutouts = None,
    real_share: RealShare = 1.0,
    clutter: Clutter = None,
    clutter_rate: Annotated[float, typer.Option(min=0.0, max=20.0, help="Clutter patches per metre of belt.")] = 1.0,
    produce: Annotated[bool, typer.Option("--produce/--no-produce", help="--no-produce: a clip with no produce "
                                                                          "(clutter only; nothing may be counted).")] = True,
) -> None:
    """Render a video of items riding the belt through the view, with truth.json for every physical item.

    Only the items that cross the counting line (x through the middle of the frame, the default of `qc inspect`,
    `qc count-table` and a configured camera) are counted: the summary says how many (`crossing_items`), and
    truth.json marks each with `crosses_line`."""
    from training.synth.clip import generate_clip
    from vision.taxonomy import Taxonomy

    w, h = _check_size(imgsz)
    total = max(1, int(round(seconds * fps)))
    progress, advance = _progress("clip", total)
    with progress:
        truth = generate_clip(out, seconds, fps, seed, Taxonomy.load(), speed, density, w, h, spoiled, on_frame=advance,
                              real=_real(real_cutouts, real_share, clutter, clutter_rate), produce=produce)
    kinds: dict[str, int] = {}
    for item in truth["items"]:
        kinds[item["produce"]] = kinds.get(item["produce"], 0) + 1
    real_items = sum(1 for item in truth["items"] if item.get("appearance") == "real")
    crossing = sum(1 for item in truth["items"] if item["crosses_line"])
    typer.echo(json.dumps({"out": str(out), "frames": truth["frames"], "items": len(truth["items"]),
                           "crossing_items": crossing, "counting_line_x": truth["counting_line"]["x"],
                           "real_items": real_items, "per_produce": kinds}, indent=1))


@app.command("piles")
def piles(
    out: Annotated[Path, typer.Option(help="Output folder (created): images/, labels/, data.yaml, manifest.json.")],
    real_cutouts: Annotated[Path, typer.Option(help="Folder of real cut-outs, <produce>_<condition>/*.png with alpha "
                                                    "(qc dataset real-prep writes one per split).")],
    clutter: Annotated[Path | None, typer.Option(help="Folder of real non-produce photos: some scenes are laid out "
                                                      "on a crop of one (sharp or out of focus).")] = None,
    count: Annotated[int, typer.Option(min=1, help="Number of scenes.")] = 1000,
    seed: Annotated[int, typer.Option(help="Random seed; scene i of a seed is always the same image.")] = 0,
    imgsz: Annotated[tuple[int, int], typer.Option(help="Scene width and height in pixels.")] = (640, 480),
    val: Annotated[float, typer.Option(min=0.0, max=1.0, help="Share of scenes in the val split.")] = 0.05,
    test: Annotated[float, typer.Option(min=0.0, max=1.0, help="Share of scenes in the test split.")] = 0.0,
) -> None:
    """Render photo-like scenes of real cut-outs with exact boxes: one fruit filling the frame, piles of one kind
    (bananas one by one, as photos with boxes box them), mixed groups; over studio, coloured, wooden or real-scene
    backdrops. Copy-paste augmentation for the detector's real-photo stage, not a conveyor view."""
    from training.manifest import write_manifest
    from training.synth.piles import generate_piles
    from training.synth.real_sprites import RealSprites
    from vision.errors import InputError
    from vision.taxonomy import Taxonomy

    w, h = _check_size(imgsz)
    if val + test >= 1.0:
        raise typer.BadParameter(f"val + test must leave scenes for training, got {val} + {test}", param_hint="--val/--test")
    try:
        sprites = RealSprites.load(real_cutouts, clutter)
    except InputError as exc:
        hint = "--real-cutouts" if str(real_cutouts) in str(exc) else "--clutter"
        raise typer.BadParameter(str(exc), param_hint=hint) from None
    taxonomy = Taxonomy.load()
    unknown = sorted(set(sprites.cutouts) - set(taxonomy.class_names))
    if unknown:
        raise typer.BadParameter(f"cut-out folders that are no detector class: {', '.join(unknown)}",
                                 param_hint="--real-cutouts")
    progress, advance = _progress("scenes", count)
    with progress:
        report = generate_piles(out, count, seed, taxonomy, sprites, w, h, val, test, on_frame=advance)
    manifest = write_manifest(out)
    typer.echo(json.dumps({"out": str(out), **report, "hash": manifest.content_hash}, indent=1))
