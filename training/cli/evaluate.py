"""`qc eval`: measure an ONNX model on a labelled split (COCO mAP, per-class AP50, condition precision/recall)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

_DATA_HELP = "Ultralytics-format data set: its folder (holding data.yaml) or the data.yaml file."
_MODEL_HELP = "ONNX model to evaluate. Default: the shipped production model."
# A data set handed to `qc eval` is an evaluation set (e.g. rendered from a held-out seed), so by default all of it
# counts; evaluating a training set's held-out part needs an explicit `--split test`.
_SPLIT_HELP = "Split to evaluate: train, val, test, or all (every split, the default)."
_TAXONOMY_HELP = "Taxonomy YAML. Default: $QC_TAXONOMY or vision/taxonomy.yaml."
_IMGSZ_HELP = "Detector input size (multiple of 32). Default: the model's own (static input or metadata), else 640."
_DECODE_HELP = (
    "full: decode every image in full. scaled: decode JPEGs at the DCT scale the model needs (1/2 for 640x360 "
    "frames and a 320 model), as qc bench's detector does; the check that the faster decode loses no mAP. "
    "device: decode and letterbox on the model's device (nvJPEG on a GPU; needs torch and torchvision), as "
    "qc bench --device-decode does."
)
_CONF_HELP = "Operating confidence threshold for the precision/recall per condition and produce kind."


def evaluate(
    data: Annotated[Path, typer.Option("--data", help=_DATA_HELP)],
    model: Annotated[Path | None, typer.Option("--model", help=_MODEL_HELP)] = None,
    split: Annotated[str, typer.Option("--split", help=_SPLIT_HELP)] = "all",
    taxonomy: Annotated[Path | None, typer.Option("--taxonomy", help=_TAXONOMY_HELP)] = None,
    imgsz: Annotated[int | None, typer.Option("--imgsz", min=32, help=_IMGSZ_HELP)] = None,
    conf: Annotated[float, typer.Option("--conf", min=0.0, max=1.0, help=_CONF_HELP)] = 0.25,
    batch: Annotated[int, typer.Option("--batch", min=1, help="Images per detector call.")] = 8,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as one JSON object on stdout.")] = False,
    decode: Annotated[str, typer.Option("--decode", help=_DECODE_HELP)] = "full",
    provider: Annotated[
        list[str] | None,
        typer.Option("--provider", help="ONNX Runtime execution provider; repeat for a preference order (default: "
                                        "TensorRT, CUDA, CPU, whatever is there)."),
    ] = None,
    grader: Annotated[
        Path | None,
        typer.Option("--grader", help="The version's grader ONNX: the report then also has 'graded', the condition, "
                                      "produce and flag figures after it decided each box (its card section: the "
                                      "card beside --model's, or production's, when that names this file; else read "
                                      "from the file). Default: the grader of the registry's production version when "
                                      "--model is not given."),
    ] = None,
    no_grader: Annotated[bool, typer.Option("--no-grader", help="The detector alone, even where the version has a "
                                                                  "grader.")] = False,
) -> None:
    """Run a model through the detector on a labelled split and report mAP50, mAP50-95, per-class AP50 and
    precision/recall per condition and produce kind at the operating threshold. A split with images but not one
    label file where ultralytics looks for them is an error (exit 2), not an evaluation without ground truth."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from training.evaluate import evaluate_model
    from vision.taxonomy import Taxonomy

    tax = Taxonomy.load(taxonomy)
    grader_obj = None if no_grader else _grader(grader, model, tax)
    with Progress(
        TextColumn("evaluating"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task("eval", total=None)
        report = evaluate_model(
            data,
            model_path=model,
            taxonomy=tax,
            taxonomy_source=str(taxonomy) if taxonomy else "in use",
            split=split,
            imgsz=imgsz,
            providers=provider or None,
            conf=conf,
            batch=batch,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
            decode=decode,
            grader=grader_obj,
        )
    result = report.to_dict()
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    _print_summary(result)


def _grader(path: Path | None, model: Path | None, taxonomy: Any) -> Any:
    """The grader to evaluate with: ``path`` (its card section from the card beside ``model`` when that names this
    file, so the version's produce weight and turns hold; else read from the file), else production's when the
    model is production's (no --model), else none."""
    from vision.grader import Grader, grader_spec_for
    from vision.registry import Registry, grader_section_beside

    if path is not None:
        if not path.is_file():
            raise typer.BadParameter(f"file not found: {path}", param_hint="--grader")
        known = grader_section_beside(model) if model is not None else Registry.open(None).production().grader
        return Grader(path, grader_spec_for(path, known, note="given to qc eval --grader"), taxonomy=taxonomy)
    if model is not None:
        return None

    registry = Registry.open(None)
    card, _ = registry.load_verified()
    found = registry.grader_path(card, verify=False)
    return None if found is None or card.grader is None else Grader(found, card.grader, taxonomy=taxonomy)


def _fmt(value: float | None) -> str:
    return "  -  " if value is None else f"{value:.3f}"


def _print_summary(r: dict[str, Any]) -> None:
    counts = r["counts"]
    typer.echo(f"model {r['model']['path']}  ({r['provider']}, imgsz {r['imgsz']})")
    data = r["data"]
    typer.echo(f"data  {data['path']} [{data['split']}]: {counts['images']} images, {counts['gt_boxes']} boxes")
    typer.echo(f"mAP50 {_fmt(r['map50'])}   mAP50-95 {_fmt(r['map50_95'])}")
    typer.echo("AP50 per class:")
    for name, ap in r["per_class"].items():
        typer.echo(f"  {name:<24} {_fmt(ap)}")
    for group in ("conditions", "produce"):
        typer.echo(f"{group} at conf >= {r['conf']}: precision / recall")
        for name, m in r[group].items():
            typer.echo(f"  {name:<24} {_fmt(m['precision'])} / {_fmt(m['recall'])}  ({m['ground_truth']} boxes)")
    graded = r.get("graded")
    if graded:
        typer.echo(f"with the grader {graded['grader']['path']} deciding each box:")
        for group in ("conditions", "produce"):
            for name, m in graded[group].items():
                typer.echo(f"  {name:<24} {_fmt(m['precision'])} / {_fmt(m['recall'])}")
        f = graded["flags"]
        typer.echo(f"  flags (freshness < {f['flag_below']}): precision {_fmt(f['precision'])}, recall {_fmt(f['recall'])}")
