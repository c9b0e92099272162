"""`qc demo`: the whole edge loop on one machine, against a freshly rendered clip's truth.

Renders a conveyor clip with `qc synth clip` (a subprocess: edge never imports training), starts `qc serve` with the
shipped model on a free port, replays the clip through a capture daemon as fast as the service acks, shows progress,
waits for the idle flush that commits the items still in view, stops the service and prints, per produce kind, the
items that crossed the line in the truth against those counted and flagged in the store. Nothing to download.
Heavy modules are imported inside the functions: registering the command must not slow every `qc` call.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from edge.service.child import ServiceChild

CAMERA = "demo-belt"
IDLE_FLUSH_S = 2.0  # the demo's own quiet time before the items still in view are committed
FLAG_HELP = "Flag items whose freshness is below this (default: the service's, 0.5)."
MODEL_HELP = ("ONNX model to serve instead of the registry's production model (a card.json beside it is used, with the "
              "grader it names beside the model).")
KEEP_HELP = "Keep the clip, truth, service config, logs and database in this new or empty folder."
REGISTRY_HELP = ("Model registry folder to serve from (seeded with the shipped model if empty). Default: a new one in "
                 "the demo's own folder, so the demo never touches your registry ($QC_REGISTRY or the per-user one).")


def demo(
    seconds: Annotated[float, typer.Option(min=1.0, help="Length of the rendered clip, seconds.")] = 12.0,
    fps: Annotated[float, typer.Option(min=1.0, max=60.0, help="Clip frame rate.")] = 15.0,
    speed: Annotated[float, typer.Option(min=0.1, max=5.0, help="Belt speed, m/s.")] = 1.0,
    density: Annotated[float, typer.Option(min=0.1, max=10.0, help="Items per metre of belt.")] = 3.0,
    seed: Annotated[int, typer.Option(help="Seed of the rendered clip.")] = 2026,
    flag_below: Annotated[float | None, typer.Option(min=0.0, max=1.0, help=FLAG_HELP)] = None,
    model: Annotated[Path | None, typer.Option(help=MODEL_HELP)] = None,
    registry: Annotated[Path | None, typer.Option(help=REGISTRY_HELP)] = None,
    keep: Annotated[Path | None, typer.Option(help=KEEP_HELP)] = None,
    ready_timeout: Annotated[float, typer.Option(min=1.0, help="Seconds to wait for the service to be ready.")] = 180.0,
) -> None:
    """Run the whole edge loop on a rendered clip: service, capture daemon, counting; print results vs the truth."""
    from vision.errors import QCError

    if keep is not None and keep.exists() and (not keep.is_dir() or any(keep.iterdir())):
        raise QCError(f"--keep {keep}: must be a new or empty folder (a used one would resume its old spool)")
    work = keep or Path(tempfile.mkdtemp(prefix="qc-demo-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        run_demo(work, seconds, fps, speed, density, seed, flag_below, model, registry, ready_timeout)
    finally:
        if keep is None:
            shutil.rmtree(work, ignore_errors=True)
        else:
            typer.echo(f"kept clip, config, logs and database in {keep}", err=True)


def run_demo(
    work: Path, seconds: float, fps: float, speed: float, density: float, seed: int, flag_below: float | None,
    model: Path | None, registry: Path | None, ready_timeout: float,
) -> None:
    """The demo's steps in ``work``; raises QCError with the reason when one fails."""
    from edge.capture import CaptureConfig, FrameSource, ServiceLink, SpoolSettings, run_capture
    from edge.service.child import ServiceChild, free_port
    from vision.errors import QCError

    root, produce_order = prepare_registry(work, model, registry)  # first: a missing model fails fast
    say(f"model registry {root}" + (" (given by --registry)" if registry is not None and model is None
                                    else " (the demo's own; your registry is not touched)"))
    say(f"rendering a {seconds:g} s clip at {fps:g} fps (belt {speed:g} m/s, {density:g} items/m, seed {seed}) ...")
    truth = render_clip(work / "clip", seconds, fps, seed, speed, density)
    port, token = free_port(), secrets.token_urlsafe(18)
    config = write_config(work, port, token, root, flag_below)
    say("starting the service ...")
    stop = threading.Event()
    with ServiceChild(config, port, work / "serve.log") as service:
        ready = service.wait_ready(ready_timeout)
        say(f"serving model {ready.get('model_version')} on {ready.get('provider')}")
        outcome: dict[str, Any] = {}

        def capture() -> None:
            try:
                outcome["summary"] = run_capture(CaptureConfig(
                    camera_id=CAMERA,
                    frames=FrameSource(source=str(work / "clip" / "clip.mp4"), realtime=False),
                    spool=SpoolSettings(spool_dir=work / "spool", fsync=False),
                    # A slow CPU may still be detecting the last window when the file ends.
                    link=ServiceLink(service=f"ws://127.0.0.1:{port}", token=token, drain_timeout=600.0),
                    progress_seconds=3600.0,
                ), stop=stop)
            except BaseException as exc:  # noqa: BLE001 (handed to the main thread)
                outcome["error"] = exc

        thread = threading.Thread(target=capture, name="qc-demo-capture", daemon=True)
        thread.start()
        try:
            show_progress(thread, service, int(truth["frames"]))
        finally:
            stop.set()  # on Ctrl-C too: the daemon stops before the service does
        if "error" in outcome:
            raise outcome["error"]
        say(f"clip sent; waiting {IDLE_FLUSH_S:g} s of quiet for the items still in view ...")
        deadline = time.monotonic() + IDLE_FLUSH_S + 60
        while service.metrics().get("qc_idle_flushes_total", 0) < 1:
            if time.monotonic() > deadline or not service.running:
                raise QCError(f"the service did not flush the camera's items:\n{service.log_tail()}")
            time.sleep(0.2)
        if not service.stop():
            say("warning: the service did not stop within 30 s of SIGTERM; killed")
    print_results(work, truth, outcome["summary"], ready, produce_order)


def say(text: str) -> None:
    """A status line on stderr (stdout carries the result table only)."""
    typer.echo(text, err=True)


def render_clip(out: Path, seconds: float, fps: float, seed: int, speed: float, density: float) -> dict[str, Any]:
    """Render the clip and its truth with `qc synth clip` in a child process; returns truth.json."""
    from vision.errors import QCError

    cmd = [sys.executable, "-m", "vision.cli", "synth", "clip", "--out", str(out), "--seconds", str(seconds),
           "--fps", str(fps), "--seed", str(seed), "--speed", str(speed), "--density", str(density)]
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-8:])
        raise QCError(f"rendering the clip failed (exit {done.returncode}; is the training extra installed?):\n{tail}")
    return json.loads((out / "truth.json").read_text())


def prepare_registry(work: Path, model: Path | None, registry: Path | None) -> tuple[Path, list[str]]:
    """The registry the service loads from and its production model's produce kinds: ``registry``, else a new one
    under ``work`` seeded with the shipped model, or (with ``model``) a new one under ``work`` holding ``model`` in
    production. Never the user's default registry: a demo must not seed, change or depend on it."""
    from vision.errors import ModelLoadError, QCError
    from vision.registry import DEFAULT_MODEL_DIR, ONNX_NAME, Registry, grader_file_for

    if model is None:
        reg = Registry.open(registry if registry is not None else work / "registry")
        try:
            card, _ = reg.load_verified()
        except QCError as exc:
            shipped = DEFAULT_MODEL_DIR / ONNX_NAME
            hint = "" if shipped.is_file() else f" (and the shipped model {shipped} is missing); pass --model PATH"
            raise QCError(f"{exc}{hint}") from exc
        return reg.root, list(card.taxonomy_obj().produce)
    if not model.is_file():
        raise ModelLoadError(f"--model {model}: no such file")
    from vision.model_card import ModelCardDraft
    from vision.taxonomy import Taxonomy

    beside = model.parent / "card.json"  # a model exported with its card keeps its taxonomy and size
    if beside.is_file():
        draft = ModelCardDraft.load(beside).model_copy(update={"parent_version": None})
    else:
        taxonomy = Taxonomy.load()
        draft = ModelCardDraft(classes=list(taxonomy.class_names), taxonomy=taxonomy.to_dict(),
                               input_size=onnx_input_size(model), training={"note": f"registered by qc demo: {model}"})
    # A card with a grader section names its grader file beside the model (or, in the shipped folder, by its sha256):
    # the two register as one version.
    grader = grader_file_for(model, draft.grader) if draft.grader is not None else None
    card = Registry.open(work / "registry", seed_from=None).register(model, draft, stage="production", grader=grader)
    return work / "registry", list(card.taxonomy_obj().produce)


def onnx_input_size(model: Path) -> tuple[int, int]:
    """The graph's static input (height, width), else the size ultralytics recorded at export, else 640 x 640."""
    import onnxruntime as ort

    from vision.errors import ModelLoadError

    try:
        session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors for unreadable graphs
        raise ModelLoadError(f"--model {model}: ONNX Runtime cannot load it ({exc})") from exc
    h, w = session.get_inputs()[0].shape[2:4]
    if isinstance(h, int) and isinstance(w, int):
        return h, w
    try:
        size = json.loads(session.get_modelmeta().custom_metadata_map.get("imgsz", "null"))
        return int(size[0]), int(size[1])
    except (TypeError, ValueError, IndexError):
        return 640, 640


def write_config(work: Path, port: int, token: str, registry: Path, flag_below: float | None) -> Path:
    """The service's YAML config: one camera with a fresh token, a SQLite store and the registry."""
    import yaml

    counting: dict[str, Any] = {"idle_flush_s": IDLE_FLUSH_S}
    if flag_below is not None:
        counting["flag_below"] = {"default": flag_below}
    config = {
        "service": {"host": "127.0.0.1", "port": port, "log_level": "warning", "shutdown_grace_s": 5},
        "data_dir": str(work),
        "store": {"url": f"sqlite:///{work / 'qc.sqlite3'}"},
        "cameras": [{"id": CAMERA, "token": token, "line": {"x": 0.5}, "direction": "+x"}],
        "counting": counting,
        "model": {"registry_root": str(registry)},
    }
    path = work / "serve.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def show_progress(capture: threading.Thread, service: ServiceChild, total: int) -> None:
    """A progress bar on stderr while the daemon streams: frames finished by the service, items counted, flagged."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("frames"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[items]}"),
               TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True)) as progress:
        task = progress.add_task("stream", total=total, items="")
        while True:
            alive = capture.is_alive()
            m = service.metrics()
            done = int(m.get("qc_frames_processed_total", 0) + m.get("qc_frames_dropped_total", 0))
            counted, flagged = int(m.get("qc_items_counted_total", 0)), int(m.get("qc_items_flagged_total", 0))
            progress.update(task, completed=min(done, total), items=f"items counted {counted}, flagged {flagged}")
            if not alive:
                return
            capture.join(0.3)


def print_results(work: Path, truth: dict[str, Any], summary: Any, ready: dict[str, Any], order: list[str]) -> None:
    """The table per produce kind against the truth, the scoring and the frame balance; QCError if frames were lost."""
    from edge.store import Store
    from edge.tracking.line import CountingLine
    from edge.tracking.scoring import score_against_truth
    from vision.errors import QCError

    with Store.open(f"sqlite:///{work / 'qc.sqlite3'}") as store:
        stored = store.items(camera_id=CAMERA)
        tally = next(iter(store.frame_tallies(CAMERA)), None)
    # The scorer reads an item's best box and frame; one stored without them cannot match (counted as spurious).
    items = [i if i.best_box and i.best_seq is not None else replace(i, best_box=(0, 0, 0, 0), best_seq=-1)
             for i in stored]
    score = score_against_truth(items, truth, CountingLine.vertical(0.5 * truth["width"], "+x"))  # type: ignore[arg-type]
    per = score["per_produce"]
    cols = ("truth", "counted", "truth_spoiled", "flagged")
    typer.echo(f"model {ready.get('model_version')} on {ready.get('provider')}; clip {truth['seconds']:g} s, "
               f"{truth['frames']} frames, belt {truth['speed_m_per_s']:g} m/s, seed {truth['seed']}")
    typer.echo(f"{'produce':<10}{'truth':>8}{'counted':>9}{'spoiled':>9}{'flagged':>9}")
    for produce in [p for p in order if p in per] + sorted(set(per) - set(order)):
        typer.echo(f"{produce:<10}" + "".join(f"{per[produce][c]:>{w}}" for c, w in zip(cols, (8, 9, 9, 9))))
    totals = [sum(r[c] for r in per.values()) for c in cols]
    typer.echo(f"{'total':<10}" + "".join(f"{v:>{w}}" for v, w in zip(totals, (8, 9, 9, 9))))

    precision, recall = ("-" if v is None else f"{v:.2f}" for v in (score["flag_precision"], score["flag_recall"]))
    typer.echo(f"duplicates {score['duplicates']}, missed {score['missed']}, spurious {score['spurious']}, wrong "
               f"produce {score['wrong_produce']}; flags: precision {precision}, recall {recall}")
    captured = summary.total.counters.captured
    processed, reasons = (tally.processed, tally.dropped) if tally else (0, {})
    dropped = sum(reasons.values())
    why = f" ({', '.join(f'{k} {v}' for k, v in sorted(reasons.items()))})" if dropped else ""
    typer.echo(f"frames: captured {captured} = processed {processed} + dropped {dropped}{why}")
    if captured != processed + dropped:
        raise QCError(f"{captured - processed - dropped} captured frame(s) were neither processed nor dropped")
