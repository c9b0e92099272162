"""`qc retrain`: assemble data, fine-tune production, export, evaluate both models, gate, register the candidate.

Steps (each reported through ``on_step``), all under the run folder ``out`` (new or empty)::

    1 assemble   dataset/ (base + imports + reviews, reviewed frames oversampled) and review_holdout/
                 (training.retrain_data), with manifest.json: the card's data set hash
    2 train      train/ (training.train) from the production version's weights (`Registry.weights_path`) or --weights
    3 export     export/model.onnx + card draft, parity-checked against the torch model on hold-out frames
    4 evaluate   eval/<model>_<set>.json: candidate and production on the frozen hold-out and the held-back reviews
    5 gate       training.gate: not worse than production beyond the tolerances (mAP50, flag precision, recall)
    6 register   only if the gate passed: stage ``candidate``, parent = production, metrics + gate, weights

``retrain_report.json`` in ``out`` says what happened and why the gate passed or failed; it is written in either
case. Errors a user can cause raise QCError subclasses (RetrainError, DatasetError, TrainError, ExportError ...).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, Strict, StrictBool

from training.evaluate import evaluate_model
from training.export import export_model, load_parity_frames
from training.gate import EvalSummary, GateReport, GateTolerances, promotion_gate
from training.retrain_data import AssembledData, assemble, sources_of
from training.tracking import NullRun, TrackedRun
from training.train import TrainConfig, train
from vision.errors import QCError
from vision.model_card import DatasetRef, ModelCard, write_json_atomic
from vision.options import Count, CountOrZero, Options, Share
from vision.taxonomy import DEFAULT_FLAG_BELOW, Taxonomy

REPORT_NAME = "retrain_report.json"
STEPS = ("assemble", "train", "export", "evaluate", "gate", "register")
# 3, not 2: typer and qc exit 2 on bad input, and a scheduler must tell "fix the job" from "the model is not better".
EXIT_PASSED, EXIT_GATE_FAILED = 0, 3


class RetrainError(QCError):
    """A retraining run cannot start or cannot go on (missing input, no production weights, used run folder)."""


class RetrainData(Options):
    """Where the candidate's data comes from, and how much the reviewed frames count."""

    base: Path  # a data set folder (e.g. `qc synth frames` output)
    holdout: Path  # the frozen hold-out: never trained on, every split evaluated
    imports: tuple[Path, ...] = ()  # imported data set folders (`qc dataset import-*`)
    reviews: Path | None = None  # reviewed frames: the output of `qc dataset from-reviews`
    review_weight: Count = 3  # each reviewed training frame is used this many times
    # Share of reviewed frames held back for evaluation (chosen by image hash: stable).
    review_holdout: Annotated[float, Strict(), Field(ge=0.0, le=0.99)] = 0.2


class FineTune(Options):
    """How the candidate is trained from production's weights (or ``weights``)."""

    weights: Path | None = None  # overrides the production version's stored weights
    epochs: Count = 10
    imgsz: Annotated[Count, Field(ge=32, multiple_of=32)] = 320  # training and export size
    batch: Count = 16
    seed: Annotated[int, Strict()] = 0
    device: str = "cpu"  # 'cpu' or a CUDA device index such as '0'
    workers: CountOrZero = 2  # data-loader worker processes
    cache: StrictBool = True  # decoded images in RAM


class RetrainChecks(Options):
    """How the candidate is measured: the operating point of the evaluations and the export's parity check."""

    conf: Share = 0.25  # operating confidence threshold
    flag_below: Share = DEFAULT_FLAG_BELOW  # freshness below which an item is flagged
    parity_frames: Count = 16  # hold-out frames of the torch/ONNX parity check
    parity_conf: Share = 0.25  # the parity check's threshold (lower it for barely trained models)


@dataclass(frozen=True)
class RetrainConfig:
    """One `qc retrain` run: its folder and the values it is made of, each validated when it was made."""

    out: Path  # the run folder (new or empty): data, weights, ONNX, reports
    data: RetrainData
    fine_tune: FineTune = field(default_factory=FineTune)
    checks: RetrainChecks = field(default_factory=RetrainChecks)
    tolerances: GateTolerances = field(default_factory=GateTolerances)


@dataclass(frozen=True)
class RetrainResult:
    """The gate's verdict, the registered candidate (None unless it passed) and the report's path."""

    gate: GateReport
    candidate: ModelCard | None
    production: ModelCard
    report_path: Path

    @property
    def exit_code(self) -> int:
        return EXIT_PASSED if self.gate.passed else EXIT_GATE_FAILED


def check_inputs(config: RetrainConfig) -> None:
    """Fail fast, before any work, on missing folders and a used run folder."""
    named = [("--base", config.data.base), ("--holdout", config.data.holdout)]
    named += [("--import", p) for p in config.data.imports]
    if config.data.reviews is not None:
        named.append(("--reviews", config.data.reviews))
    for option, path in named:
        if not path.is_dir():
            raise RetrainError(f"{option} {path}: data set folder not found")
        if not (path / "data.yaml").is_file():
            raise RetrainError(f"{option} {path}: no data.yaml in it (an ultralytics-format data set folder)")
    if config.fine_tune.weights is not None and not config.fine_tune.weights.is_file():
        raise RetrainError(f"--weights {config.fine_tune.weights}: file not found")
    if config.out.exists() and (not config.out.is_dir() or any(config.out.iterdir())):
        raise RetrainError(f"run folder {config.out} exists and is not empty; choose a new --out")


def production_weights(registry: Any, card: ModelCard, explicit: Path | None) -> Path:
    """The .pt to fine-tune: ``explicit`` if given, else the weights stored with the production version."""
    if explicit is not None:
        return explicit
    stored = registry.weights_path(card)
    if stored is None:
        raise RetrainError(
            f"production model {card.version} in registry {registry.root} has no stored torch weights to train from; "
            "pass --weights PATH (the .pt it was exported from), or register it with its weights"
        )
    return Path(stored)


def _evaluate(model: Path, data: Path, checks: RetrainChecks, taxonomy: Taxonomy, out: Path) -> EvalSummary:
    report = evaluate_model(
        data, model_path=model, taxonomy=taxonomy, split="all", conf=checks.conf, flag_below=checks.flag_below
    ).to_dict()
    write_json_atomic(out, report)
    return EvalSummary.of(report)


def run_retrain(
    config: RetrainConfig,
    registry: Any,
    taxonomy: Taxonomy,
    *,
    on_step: Callable[[int, str, str], None] | None = None,
    on_epoch: Callable[[int, int, dict[str, float]], None] | None = None,
    tracker: TrackedRun | None = None,
) -> RetrainResult:
    """Run the six steps of the module doc; ``on_step(number, name, detail)`` before and within each step.

    ``registry`` is a `vision.registry.Registry`. Returns whether the gate passed (and the candidate's card).
    """
    step = on_step or (lambda _n, _name, _detail: None)
    run = tracker or NullRun()
    check_inputs(config)
    sources, tune, checks = config.data, config.fine_tune, config.checks
    production = registry.production()
    if list(production.classes) != list(taxonomy.class_names):
        raise RetrainError(f"production model {production.version} has classes {production.classes}, "
                           f"the taxonomy in use {list(taxonomy.class_names)}")
    weights = production_weights(registry, production, tune.weights)
    _, production_onnx = registry.load_verified(production.version)
    config.out.mkdir(parents=True, exist_ok=True)
    run.log_params(_params(config, production, weights))

    step(1, "assemble", "base + imports + reviews -> one data set")
    data = assemble(
        sources_of(sources.base, sources.imports, sources.reviews), config.out, taxonomy,
        review_weight=sources.review_weight, review_holdout=sources.review_holdout,
        frozen_holdout=sources.holdout,
        progress=lambda msg: step(1, "assemble", msg),
    )
    step(1, "assemble", f"data set {data.manifest.content_hash[:12]}: {data.manifest.images} images")

    step(2, "train", f"{tune.epochs} epoch(s) at imgsz {tune.imgsz} from {production.version} ({weights})")

    def epoch_done(epoch: int, total: int, metrics: dict[str, float]) -> None:
        run.log_metrics(metrics, step=epoch)
        if on_epoch is not None:
            on_epoch(epoch, total, metrics)

    trained = train(
        TrainConfig(
            data=data.dataset_dir, out=config.out / "train", epochs=tune.epochs, imgsz=tune.imgsz, batch=tune.batch,
            seed=tune.seed, device=tune.device, workers=tune.workers, weights=weights, cache=tune.cache,
        ),
        on_epoch=epoch_done,
    )

    step(3, "export", f"ONNX at imgsz {tune.imgsz}, parity on {checks.parity_frames} hold-out frames")
    exported = export_model(
        trained.best, config.out / "export", tune.imgsz, taxonomy=taxonomy, half_variant=False,
        parity_frames=load_parity_frames(sources.holdout, checks.parity_frames),
        dataset=DatasetRef(hash=data.manifest.content_hash, path=str(data.dataset_dir),
                           counts={split: c.images for split, c in data.manifest.splits.items()}),
        parity_conf=checks.parity_conf, parent_version=production.version,
        on_step=lambda msg: step(3, "export", msg),
    ).model("fp32")

    eval_sets = {"holdout": sources.holdout}
    if data.review_holdout_dir is not None:
        eval_sets["reviews"] = data.review_holdout_dir
    candidate_eval: dict[str, EvalSummary] = {}
    production_eval: dict[str, EvalSummary] = {}
    for name, folder in eval_sets.items():
        step(4, "evaluate", f"candidate and production {production.version} on {name} ({folder})")
        candidate_eval[name] = _evaluate(exported.onnx_path, folder, checks, taxonomy,
                                         config.out / "eval" / f"candidate_{name}.json")
        production_eval[name] = _evaluate(production_onnx, folder, checks, taxonomy,
                                          config.out / "eval" / f"production_{name}.json")
    if "reviews" not in eval_sets:
        step(4, "evaluate", "no reviewed frames held back: the gate uses the frozen hold-out only")

    gate = promotion_gate(candidate_eval, production_eval, config.tolerances)
    step(5, "gate", gate.reason)
    run.log_metrics(_final_metrics(candidate_eval, production_eval, gate))

    candidate: ModelCard | None = None
    metrics = _card_metrics(candidate_eval, gate)
    training_info = {
        "command": "qc retrain", "base_weights": str(weights), "review_weight": sources.review_weight,
        "review_holdout": sources.review_holdout, "data": data.to_dict(), "mlflow_run_id": run.run_id,
    }
    if gate.passed:
        # The grader is not retrained here: the candidate carries production's, so detector and grader stay one
        # versioned unit and the new version grades items as production does.
        draft = exported.draft.model_copy(update={"metrics": metrics, "grader": production.grader,
                                                  "training": {**exported.draft.training, **training_info}})
        grader = registry.grader_path(production)
        candidate = registry.register(exported.onnx_path, draft, stage="candidate",
                                      eval_report=config.out / "eval" / "candidate_holdout.json", weights=trained.best,
                                      grader=grader, reason=f"qc retrain from {production.version}: gate {gate.reason}")
        step(6, "register", f"registered {candidate.version} as candidate (parent {production.version})")
        run.log_dict(candidate.model_dump(mode="json"), "model_card.json")
    else:
        step(6, "register", "not registered: the gate failed")
    report_path = config.out / REPORT_NAME
    write_json_atomic(report_path, _report(config, data, production, candidate, gate, candidate_eval,
                                           production_eval, trained.best, exported.onnx_path))
    run.log_artifact(report_path)
    return RetrainResult(gate=gate, candidate=candidate, production=production, report_path=report_path)


def _params(config: RetrainConfig, production: ModelCard, weights: Path) -> dict[str, Any]:
    sources, tune, checks = config.data, config.fine_tune, config.checks
    return {
        "base": sources.base, "imports": [str(p) for p in sources.imports], "reviews": sources.reviews,
        "holdout": sources.holdout, "epochs": tune.epochs, "imgsz": tune.imgsz, "batch": tune.batch, "seed": tune.seed,
        "review_weight": sources.review_weight, "review_holdout": sources.review_holdout, "conf": checks.conf,
        "flag_below": checks.flag_below, "production": production.version, "weights": weights,
        "tolerances": {"map50": config.tolerances.map50, "flag_precision": config.tolerances.flag_precision,
                       "flag_recall": config.tolerances.flag_recall},
    }


def _summary(s: EvalSummary) -> dict[str, Any]:
    return {"map50": s.map50, "flag_precision": s.flag_precision, "flag_recall": s.flag_recall, "images": s.images}


def _final_metrics(cand: dict[str, EvalSummary], prod: dict[str, EvalSummary], gate: GateReport) -> dict[str, Any]:
    return {
        "candidate": {name: _summary(s) for name, s in cand.items()},
        "production": {name: _summary(s) for name, s in prod.items()},
        "gate_passed": int(gate.passed),
    }


def _card_metrics(cand: dict[str, EvalSummary], gate: GateReport) -> dict[str, Any]:
    """The card's metrics: the hold-out headline numbers, every evaluation set, and the gate report."""
    holdout_report = cand["holdout"]
    return {
        "map50": holdout_report.map50,
        "flag_precision": holdout_report.flag_precision,
        "flag_recall": holdout_report.flag_recall,
        "eval_sets": {name: _summary(s) for name, s in cand.items()},
        "gate": gate.to_dict(),
    }


def _report(
    config: RetrainConfig, data: AssembledData, production: ModelCard, candidate: ModelCard | None, gate: GateReport,
    cand: dict[str, EvalSummary], prod: dict[str, EvalSummary], weights: Path, onnx: Path,
) -> dict[str, Any]:
    return {
        "passed": gate.passed,
        "reason": gate.reason,
        "exit_code": EXIT_PASSED if gate.passed else EXIT_GATE_FAILED,
        "gate": gate.to_dict(),
        "production": production.version,
        "candidate": None if candidate is None else {"version": candidate.version, "stage": candidate.stage},
        "dataset": data.to_dict(),
        "evaluations": {
            name: {"candidate": _summary(cand[name]), "production": _summary(prod[name]),
                   "reports": {"candidate": str(config.out / "eval" / f"candidate_{name}.json"),
                               "production": str(config.out / "eval" / f"production_{name}.json")}}
            for name in cand
        },
        "weights": str(weights),
        "onnx": str(onnx),
    }
