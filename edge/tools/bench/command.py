"""`qc bench`: the detector against the limit and the peer, and the service under camera streams, in one run."""

from __future__ import annotations

import contextlib
import json
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer


class AttackChoice(str, Enum):
    """The starvation attacks `qc bench --attack` runs: a choice, so `--help` lists them and a typo is refused."""

    signin = "signin"
    multipart = "multipart"
    both = "both"


def bench(
    json_out: Annotated[
        bool, typer.Option("--json", help="Print one JSON object on stdout instead of the table.")
    ] = False,
    model: Annotated[
        Path | None, typer.Option(help="ONNX model to measure (default: the shipped vision/default_model/model.onnx).")
    ] = None,
    frames: Annotated[int, typer.Option(help="Distinct conveyor frames (JPEG) every detector path runs over.")] = 128,
    batch: Annotated[
        list[int] | None,
        typer.Option(help="Batch size; repeat for several (the first is the headline and the service's max_batch)."),
    ] = None,
    streams: Annotated[
        int, typer.Option(help="Concurrent camera streams against `qc serve` (0: skip the service).")
    ] = 4,
    fps: Annotated[float, typer.Option(help="Frames per second each camera stream sends.")] = 15.0,
    seconds: Annotated[float, typer.Option(help="How long the camera streams run.")] = 20.0,
    rounds: Annotated[int, typer.Option(help="Timed rounds per detector path; figures are the median.")] = 3,
    frame_size: Annotated[
        tuple[int, int], typer.Option(help="Width and height of the frames, as the capture daemon sends them.")
    ] = (640, 360),
    source: Annotated[
        Path | None, typer.Option(help="A video or a folder of .jpg to take frames from (default: `qc synth clip`).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the rendered frames.")] = 7,
    queue_limit: Annotated[int, typer.Option(help="The service's batcher.queue_limit (bounded queue).")] = 64,
    peer: Annotated[bool, typer.Option("--peer/--no-peer", help="Measure ultralytics' predict when installed.")] = True,
    cpu_arena: Annotated[
        bool, typer.Option("--cpu-arena/--no-cpu-arena", help="ONNX Runtime's CPU memory arena for (a)-(c).")
    ] = True,
    spin: Annotated[
        bool, typer.Option("--spin/--no-spin", help="Let our session's intra-op threads spin-wait (ORT's default).")
    ] = False,
    int8: Annotated[
        bool,
        typer.Option("--int8", help="Ours on the shipped int8 deployment (vision/default_model/int8), the peer on the "
                                    "shipped fp32 model it was quantized from (CPU nodes; see qc quantize)."),
    ] = False,
    peer_model: Annotated[
        Path | None,
        typer.Option(help="ONNX model the peer (ultralytics) runs, default --model: e.g. ours on a `qc quantize` "
                          "int8 model against the peer on the fp32 model users would run."),
    ] = None,
    cpu_replicas: Annotated[
        int | None,
        typer.Option(help="ONNX Runtime sessions splitting each batch on the CPU, for ours and the service "
                          "(default: one per core, at most 4)."),
    ] = None,
    uint8_input: Annotated[
        bool | None,
        typer.Option("--uint8-input/--float-input",
                     help="Ours and the service on the graph edited to take the letterboxed uint8 pixels and normalise "
                          "inside the model (the GPU path; see README), or on the float input. Default: uint8 for "
                          "an int8 model, whose graph takes the pixels as its quantized input (as the service "
                          "serves an int8 version); float otherwise."),
    ] = None,
    topk: Annotated[
        int | None,
        typer.Option(help="Ours and the service on the graph edited to keep only the K anchors with the best class "
                          "score in its output (the GPU path)."),
    ] = None,
    scaled_decode: Annotated[
        bool,
        typer.Option("--scaled-decode/--full-decode",
                     help="Ours decodes each JPEG at the DCT scale the model needs (1/2 for 640x360 frames and a 320 "
                          "model) or in full; the limit and the peer are the same either way."),
    ] = True,
    decode_threads: Annotated[
        int | None,
        typer.Option(help="Threads decoding each batch's JPEGs for ours (default: 1 on the CPU, one per core up "
                          "to 8 on a GPU)."),
    ] = None,
    provider: Annotated[
        list[str] | None,
        typer.Option("--provider", help="ONNX Runtime execution provider for ours, the limit and the service; repeat "
                                        "for a preference order (default: TensorRT, CUDA, CPU, whatever is there)."),
    ] = None,
    decode_processes: Annotated[
        int,
        typer.Option(help="Worker processes that decode and letterbox each batch for ours, into shared memory "
                          "(0: threads; for a GPU node, where threads leave the GIL as the bottleneck)."),
    ] = 0,
    device_decode: Annotated[
        bool,
        typer.Option(help="Ours decodes and letterboxes each batch on the model's device (nvJPEG through "
                          "torchvision on a GPU; needs torch and torchvision) and the session reads it there."),
    ] = False,
    resend: Annotated[
        bool,
        typer.Option("--resend/--no-resend",
                     help="The service's cameras resend frames answered retry from a spool, as `qc capture` does "
                          "(default), or send each frame once and count retry as a drop."),
    ] = True,
    grader: Annotated[
        Path | None,
        typer.Option(help="ONNX grader to measure per item and serve with the model (default: the grader the model's "
                          "card names beside it, if any)."),
    ] = None,
    save: Annotated[
        Path | None, typer.Option(help="Also write the JSON object to this file (with the table on stdout), "
                                      "rewritten after each batch size so a run cut short keeps what it measured.")
    ] = None,
    soak: Annotated[
        float | None,
        typer.Option(help="Soak: only the service, under the streams for this many seconds; reports RSS growth."),
    ] = None,
    attack: Annotated[
        AttackChoice | None,
        typer.Option(help="Attack: only the service, one camera at --fps for --seconds without an attack and then "
                          "during each attack: signin (a sign-in flood), multipart (a 150k-part POST /frames flood) "
                          "or both; reports the camera's ratios, /healthz and how the attack was answered."),
    ] = None,
    attack_clients: Annotated[
        int, typer.Option(help="Parallel clients of each --attack (in a process of their own).")
    ] = 16,
) -> None:
    """Measure (a) ONNX Runtime alone, (b) our detector from JPEG bytes, (c) ultralytics' predict, and (d) `qc serve`
    under concurrent camera streams: frames/s, ratios, latency, drops, memory; and, when the model has a grader, the
    grader's cost per item. With --attack: only the service, one camera without and during starvation attacks."""
    # Here, not at the top: registering the command must stay cheap.
    from edge.tools.bench.attack_bench import attack_kinds
    from edge.tools.bench.options import BenchFrames, BenchModels, BenchOptions, DetectorRuns, ServiceLoad
    from edge.tools.bench.report import BenchReport
    from edge.tools.bench.run import run_bench
    from vision.detector_options import RuntimeOptions
    from vision.throughput.frame_decoding import FrameDecoding

    options = BenchOptions(
        models=BenchModels(model=model, peer_model=peer_model, int8=int8, peer=peer, grader=grader,
                           uint8_input=uint8_input, topk=topk),
        frames=BenchFrames(count=frames, size=frame_size, source=source, seed=seed),
        runs=DetectorRuns(batches=tuple(batch or (8,)), rounds=rounds),
        runtime=RuntimeOptions(providers=tuple(provider) if provider else None, cpu_mem_arena=cpu_arena,
                               intra_op_spinning=spin, cpu_replicas=cpu_replicas),
        decoding=FrameDecoding(scaled=scaled_decode, threads=decode_threads, processes=decode_processes,
                               on_device=device_decode),
        service=ServiceLoad(streams=streams, fps=fps, seconds=seconds, queue_limit=queue_limit, resend=resend,
                            soak_s=soak, attack=attack_kinds(attack.value) if attack is not None else (),
                            attack_clients=attack_clients),
    )
    # Whatever the measured libraries print (ultralytics logs to stdout) goes to stderr: stdout is the report's.
    def save_partial(report: BenchReport) -> None:
        if save is not None:
            save.write_text(json.dumps(report.to_json(), indent=1) + "\n")

    with contextlib.redirect_stdout(sys.stderr):
        report = run_bench(options, log=lambda message: typer.echo(message, err=True), partial=save_partial)
    text = json.dumps(report.to_json(), indent=1)
    save_partial(report)
    if json_out:
        typer.echo(text)
    else:
        typer.echo(report.table())
