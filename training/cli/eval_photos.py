"""`qc eval-photos`: the system's decisions on real photos (single fruit, boxed web photos, clutter); `qc pool-folds`;
`qc compare-photos`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer


def eval_photos(
    root: Annotated[Path, typer.Argument(help="The real-produce folder: fresh-rotten/ and fruit-photos/.")],
    model: Annotated[Path | None, typer.Option(help="Detector ONNX. Default: the registry's production version "
                                                     "(with its grader).")] = None,
    grader: Annotated[Path | None, typer.Option(help="Grader ONNX beside --model (its card section: the card beside "
                                                      "--model's when it names this file, so its produce weight and "
                                                      "turns hold; else read from the file's metadata).")] = None,
    no_grader: Annotated[bool, typer.Option("--no-grader", help="Decide with the detector alone, even where the "
                                                                  "version has a grader.")] = False,
    split: Annotated[str, typer.Option(help="val (held out from every model: the default), train, dev (the development fifth of train, "
                                            "which graders may hold out to choose on), all, or fold:I/K (part I of "
                                            "K of train, counted from 0; fold:0/5 is dev).")] = "val",
    imgsz: Annotated[int | None, typer.Option(min=32, help="Detector input size. Default: the model's own.")] = None,
    conf: Annotated[float, typer.Option(min=0.0, max=1.0, help="Detector confidence threshold.")] = 0.25,
    iou: Annotated[float, typer.Option(min=0.0, max=1.0, help="NMS drops a box overlapping a better one of its "
                                             "group by more than this IoU.")] = 0.6,
    nms_by: Annotated[str, typer.Option(help="NMS within each produce kind ('produce', the edge's) or across kinds "
                                             "('item': one box per object).")] = "produce",
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as one JSON object.")] = False,
    clutter_dir: Annotated[Path | None, typer.Option(help="A folder of your own photos with no produce (jpg, png): "
                                                          "each, in four orientations, must get no box.")] = None,
    mistakes: Annotated[bool, typer.Option("--mistakes", help="List each single-fruit photo the system got wrong "
                                           "(no box, wrong produce, wrong flag) with what it decided. Study the "
                                           "development split or a fold, not the validation split: what is looked "
                                           "at closely stops being held out.")] = False,
) -> None:
    """Measure the detector (and grader) on real photos as the edge decides items: a box found, the right produce,
    spoiled flagged, fresh not flagged (single-fruit photos); produce-kind precision/recall (boxed photos); boxes on
    photos with no produce (clutter)."""
    from training.real.photo_eval import boxed_table, clutter_table, single_fruit_table
    from training.real.sources import (
        boxed_photos,
        check_split,
        clutter_photos,
        clutter_photos_in,
        in_split,
        single_fruit_photos,
    )
    from vision.decode import DecodeOptions
    from vision.detector import Detector
    from vision.detector_options import InputOptions
    from vision.errors import InputError
    from vision.grader import Grader, grader_spec_for
    from vision.registry import grader_section_beside
    from vision.taxonomy import DEFAULT_FLAG_BELOW, Taxonomy

    try:
        check_split(split)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--split") from None
    if nms_by not in ("produce", "item"):
        raise typer.BadParameter(f"expected produce or item, got {nms_by!r}", param_hint="--nms-by")
    if grader is not None and model is None:
        raise typer.BadParameter("a grader is evaluated with the detector it pairs with: give --model too",
                                 param_hint="--grader")
    taxonomy = Taxonomy.load()
    version = "unregistered"
    if model is None:
        from vision.registry import Registry

        card, model = Registry.open(None).load_verified()
        version = card.version
        spec = card.grader
        grader_obj = Grader(model.parent / spec.file, spec, taxonomy=taxonomy) if spec and not no_grader else None
    else:
        if not model.is_file():
            raise typer.BadParameter(f"file not found: {model}", param_hint="--model")
        if grader is not None and not grader.is_file():
            raise typer.BadParameter(f"file not found: {grader}", param_hint="--grader")
        grader_obj = None
        if grader is not None and not no_grader:
            spec = grader_spec_for(grader, grader_section_beside(model), note="given to qc eval-photos --grader")
            grader_obj = Grader(grader, spec, taxonomy=taxonomy)
    decoding = DecodeOptions(conf_threshold=conf, iou_threshold=iou, nms_by=nms_by)  # type: ignore[arg-type]
    detector = Detector(model, taxonomy, decoding=decoding, inputs=InputOptions(imgsz=imgsz))

    def detect(image: Any) -> Any:
        return detector.detect([image])[0]

    try:
        singles = single_fruit_photos(root, taxonomy)
        boxed = boxed_photos(root, taxonomy)
    except InputError as exc:
        raise typer.BadParameter(str(exc), param_hint="ROOT") from None
    clutter = clutter_photos()
    try:
        own_clutter = None if clutter_dir is None else clutter_photos_in(clutter_dir)
    except InputError as exc:
        raise typer.BadParameter(str(exc), param_hint="--clutter-dir") from None
    report = {
        "model": str(model), "version": version, "grader": None if grader_obj is None else str(grader_obj.model_path),
        "grader_turns": None if grader_obj is None else grader_obj.turns,
        "grader_produce_weight": None if grader_obj is None else grader_obj.produce_weight,
        "split": split, "conf": conf, "iou": iou, "nms_by": nms_by, "flag_threshold": DEFAULT_FLAG_BELOW,
        "single_fruit": single_fruit_table([p for p in singles if in_split(p, split)], detect, taxonomy, grader_obj,
                                           list_mistakes=mistakes),
        "boxed": boxed_table([p for p in boxed if in_split(p, split)], detect, taxonomy, grader_obj),
        "clutter": clutter_table([p for p in clutter if in_split(p, split)], detect, taxonomy, grader_obj),
    }
    if own_clutter is not None:
        try:
            own = clutter_table(own_clutter, detect, taxonomy, grader_obj, quarter_turns=True)
        except InputError as exc:  # a photo OpenCV cannot read
            raise typer.BadParameter(str(exc), param_hint="--clutter-dir") from None
        report["clutter_dir"] = {"folder": str(clutter_dir), **own}
    if as_json:
        typer.echo(json.dumps(report, indent=1))
        return
    _print(report)


def _f(v: float | None) -> str:
    return "  -  " if v is None else f"{v:.3f}"


def _fi(overall: dict[str, Any], key: str) -> str:
    """A share with its 95 % interval, when the report has one (reports written before intervals do not)."""
    ci = overall.get("interval95", {}).get(key)
    return _f(overall[key]) + ("" if ci is None else f" [{ci[0]:.2f}-{ci[1]:.2f}]")


def _print_single_rows(per_class: dict[str, Any]) -> None:
    typer.echo("single-fruit photos      photos  box    produce  flagged")
    for name, row in per_class.items():
        typer.echo(f"  {name:<22} {row['photos']:>6}  {_f(row['box'])}  {_f(row['right_produce'])}    {_f(row['flagged'])}")


def _print(r: dict[str, Any]) -> None:
    turns = f" ({r['grader_turns']} turns)" if r["grader"] and r["grader_turns"] > 1 else ""
    typer.echo(f"model {r['model']} ({r['version']}), grader {r['grader'] or 'none'}{turns}; split {r['split']}")
    s = r["single_fruit"]
    _print_single_rows(s["per_class"])
    o = s["overall"]
    typer.echo(f"  overall: box {_fi(o, 'box')}, right produce {_fi(o, 'right_produce')} (detector alone "
               f"{_f(o['right_produce_detector_alone'])}), spoiled flagged {_fi(o, 'spoiled_flagged')}, fresh flagged "
               f"{_fi(o, 'fresh_flagged')}")
    typer.echo("  [95 % intervals: what the photos' number allows; two models on the same photos: qc compare-photos]")
    for m in s.get("mistakes", []):
        decided = "no box" if m["decided"] is None else (
            f"{m['decided']} (freshness {m['freshness']:.2f}, detector: {m['detector_produce']})")
        typer.echo(f"  mistake: {m['truth']} -> {decided}: {', '.join(m['mistakes'])}  {m['photo']}")
    b = r["boxed"]
    typer.echo(f"boxed photos ({b['photos']}): produce kind precision / recall at IoU 0.5")
    for name, row in b["per_produce"].items():
        typer.echo(f"  {name:<8} {row['boxes']:>4} boxes  {_f(row['precision'])} / {_f(row['recall'])}")
    ob = b["overall"]
    typer.echo(f"  overall  {ob['boxes']:>4} boxes  {_fi(ob, 'precision')} / {_fi(ob, 'recall')}; flagged "
               f"{_f(ob['flagged'])} of the boxes (all fresh)")
    c = r["clutter"]
    typer.echo(f"clutter photos ({c['photos']}, no produce): {c['boxes']} boxes, {c['flagged']} flagged "
               f"({c['vetoed']} more boxes vetoed by the grader)")
    if "clutter_dir" in r:
        d = r["clutter_dir"]
        typer.echo(f"{d['folder']} ({d['photos']} photos, {d['views']} orientations, no produce): {d['boxes']} boxes, "
                   f"{d['flagged']} flagged ({d['vetoed']} more boxes vetoed by the grader)")
        for name, n in d["per_photo"].items():
            if n:
                typer.echo(f"  {name}: {n} boxes")


def pool_folds(
    reports: Annotated[list[Path], typer.Argument(help="`qc eval-photos --split fold:I/K --json` outputs, one per "
                                                       "fold (distinct folds of one K).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the pooled figures as JSON.")] = False,
) -> None:
    """Pool per-fold `qc eval-photos` reports by their counts (a fold of more photos weighs more): one estimate over
    every fold's photos, per produce and condition, with the boxed and clutter photos."""
    from training.real.fold_pool import pool_fold_reports
    from vision.taxonomy import Taxonomy

    loaded = []
    for path in reports:
        try:
            loaded.append(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError) as exc:
            raise typer.BadParameter(f"{path}: not a readable qc eval-photos --json report ({exc})",
                                     param_hint="REPORTS") from None
        if not isinstance(loaded[-1], dict) or "single_fruit" not in loaded[-1] or "split" not in loaded[-1]:
            raise typer.BadParameter(f"{path}: not a qc eval-photos --json report", param_hint="REPORTS")
    try:
        pooled = pool_fold_reports(loaded, fresh=Taxonomy.load().condition_names[0])
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="REPORTS") from None
    except KeyError as exc:
        raise typer.BadParameter(f"a report lacks {exc}: give qc eval-photos --json outputs as they were written",
                                 param_hint="REPORTS") from None
    if as_json:
        typer.echo(json.dumps(pooled, indent=1))
        return
    typer.echo(f"pooled {', '.join(pooled['folds'])} ({'; '.join(pooled['models'])})")
    _print_single_rows(pooled["single_fruit"]["per_class"])
    o = pooled["single_fruit"]["overall"]
    typer.echo(f"  overall ({o['photos']} photos): box {_fi(o, 'box')}, right produce {_fi(o, 'right_produce')}, "
               f"spoiled flagged {_fi(o, 'spoiled_flagged')}, fresh flagged {_fi(o, 'fresh_flagged')}")
    b = pooled["boxed"]
    typer.echo(f"boxed photos: {b['boxes']} boxes, precision / recall {_f(b['precision'])} / {_f(b['recall'])}")
    c = pooled["clutter"]
    typer.echo(f"clutter photos ({c['photos']}): {c['boxes']} boxes, {c['flagged']} flagged")


def compare_photos(
    first: Annotated[Path, typer.Argument(help="`qc eval-photos --json` (or `qc pool-folds --json`) of one model.")],
    second: Annotated[Path, typer.Argument(help="The same, of the other model, on the same photos.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the comparison as JSON.")] = False,
) -> None:
    """Two models on the same single-fruit photos, photo by photo: for a box found, the right produce and the flag
    right, how many photos only the first gets right and only the second, with the exact McNemar p-value (small:
    a difference the photos can tell apart; near 1: one they cannot)."""
    from training.real.photo_compare import compare_outcomes, per_photo

    outcomes = []
    for path in (first, second):
        try:
            report = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise typer.BadParameter(f"{path}: not a readable qc eval-photos --json report ({exc})",
                                     param_hint="REPORTS") from None
        try:
            outcomes.append(per_photo(report, str(path)))
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="REPORTS") from None
    try:
        rows = compare_outcomes(*outcomes)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="REPORTS") from None
    if as_json:
        typer.echo(json.dumps({"first": str(first), "second": str(second), "outcomes": rows}, indent=1))
        return
    typer.echo(f"first {first}, second {second}: single-fruit photos, right by each")
    typer.echo("  outcome         photos  first  second  only first  only second  p (exact McNemar)")
    for name, r in rows.items():
        typer.echo(f"  {name:<14} {r['photos']:>7} {r['right_a']:>6} {r['right_b']:>7} {r['only_a']:>11} "
                   f"{r['only_b']:>12}  {r['p']:.3f}")
