"""`qc grader-ensemble`: fold graders trained alike into one ONNX grader that averages their probabilities."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def grader_ensemble(
    members: Annotated[list[Path], typer.Argument(help="Two or more grader.onnx files (qc train-grader) with the same "
                                                      "classes and input size.")],
    out: Annotated[Path, typer.Option(help="The merged grader.onnx to write.")] = Path(
        "runs/grader_ensemble/grader.onnx"
    ),
) -> None:
    """Write one grader whose output is the mean of the members' probabilities (one input, one output: the registry,
    the card and the edge treat it as any grader; it costs each member's compute per crop). Prints a JSON report."""
    from training.grader_ensemble import ensemble_graders

    report = ensemble_graders(members, out)
    typer.echo(json.dumps(report.to_dict(), indent=1))
