"""The model registry: a folder of versions, each an ONNX file with its model card.

Layout::

    <root>/versions/<version>/model.onnx   the graph
    <root>/versions/<version>/card.json    ModelCard (sha256, classes, input size, metrics, stage ...)
    <root>/versions/<version>/eval.json    optional full evaluation report

A version folder appears whole or not at all (built under a temp name, then renamed), and a card is
rewritten atomically, so readers on other processes never see half a version. All file access goes
through the few ``_`` methods at the bottom of `Registry`, so an object-store backend (fsspec URL,
a later issue) replaces only those. Staged rollout (shadow/canary rules, rollback) is a later issue;
`set_stage` only keeps "one production at a time".
"""

from __future__ import annotations

import builtins
import os
import shutil
import tempfile
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path

from vision.errors import ModelLoadError, QCError
from vision.model_card import (
    STAGES,
    VERSION_PATTERN,
    ModelCard,
    ModelCardDraft,
    Stage,
    sha256_file,
    verify_against_graph,
    write_json_atomic,
)

# The model that ships with the package (trained by the project's own pipeline); seeds an empty registry.
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "default_model"
ONNX_NAME = "model.onnx"
CARD_NAME = "card.json"
EVAL_NAME = "eval.json"


class RegistryError(QCError):
    """A registry operation cannot be done: unknown version, no production model, bad stage, bad root."""


def default_registry_root(env: Mapping[str, str] | None = None) -> Path:
    """``$QC_REGISTRY``, else ``$XDG_DATA_HOME/conveyor-qc/registry`` (XDG default ``~/.local/share``)."""
    env = os.environ if env is None else env
    if env.get("QC_REGISTRY"):
        return Path(env["QC_REGISTRY"]).expanduser()
    data_home = Path(env["XDG_DATA_HOME"]) if env.get("XDG_DATA_HOME") else Path.home() / ".local" / "share"
    return data_home / "conveyor-qc" / "registry"


def _version_number(version: str) -> int:
    return int(version[1:])


def format_version(number: int) -> str:
    """Version id of a version number: 1 -> 'v0001'."""
    return f"v{number:04d}"


class Registry:
    """A model registry rooted at a folder. Constructing one touches nothing; `open` creates and seeds it."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    @classmethod
    def open(
        cls, root: str | os.PathLike[str] | None = None, *, seed_from: Path | None = DEFAULT_MODEL_DIR
    ) -> Registry:
        """Open (creating if needed) the registry at ``root`` (default: `default_registry_root`).

        An empty registry is seeded with the shipped model folder (``model.onnx`` + ``card.json`` [+ ``eval.json``])
        as a production version, keeping the shipped card's version id; no folder, no seeding.
        """
        reg = cls(default_registry_root() if root is None else root)
        try:
            reg._versions_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RegistryError(f"cannot create model registry at {reg.root}: {exc}") from exc
        if seed_from is not None and not reg._version_names() and (seed_from / ONNX_NAME).is_file():
            reg._seed(seed_from)
        return reg

    # -- reading ---------------------------------------------------------------------------------------------

    def list(self) -> builtins.list[ModelCard]:
        """All versions' cards, oldest first."""
        return [self.get(v) for v in self._version_names()]

    def get(self, version: str) -> ModelCard:
        """The card of one version; RegistryError if there is no such version, ModelLoadError if its card is bad."""
        if not VERSION_PATTERN.match(version):
            raise RegistryError(f"'{version}' is not a version id (like 'v0001')")
        card_path = self._version_dir(version) / CARD_NAME
        if not card_path.is_file():
            known = ", ".join(self._version_names()) or "none"
            raise RegistryError(f"no model version {version} in registry {self.root} (versions: {known})")
        card = ModelCard.load(card_path)
        if card.version != version:
            raise ModelLoadError(f"{card_path}: card says version {card.version} but lives in folder {version}")
        return card

    def production(self) -> ModelCard:
        """The production version's card; RegistryError if none is in production."""
        prod = [c for c in self.list() if c.stage == "production"]
        if not prod:
            raise RegistryError(
                f"no production model in registry {self.root}; promote one with `qc registry promote VERSION`"
            )
        return prod[-1]

    def path_of(self, card: ModelCard) -> Path:
        """Path of a version's ONNX file."""
        return self._version_dir(card.version) / card.onnx_file

    def eval_path(self, card: ModelCard) -> Path | None:
        """Path of a version's stored evaluation report, if it has one."""
        p = self._version_dir(card.version) / EVAL_NAME
        return p if p.is_file() else None

    def load_verified(self, version: str | None = None) -> tuple[ModelCard, Path]:
        """Card and ONNX path of ``version`` (default: production), after checking sha256 and graph against the card."""
        card = self.production() if version is None else self.get(version)
        path = self.path_of(card)
        verify_against_graph(card, path)
        return card, path

    # -- writing ---------------------------------------------------------------------------------------------

    def register(
        self,
        onnx_path: str | os.PathLike[str],
        draft: ModelCardDraft,
        *,
        stage: Stage = "candidate",
        eval_report: str | os.PathLike[str] | None = None,
        version: str | None = None,
    ) -> ModelCard:
        """Add an ONNX file as the next version; returns its card.

        The file is copied, hashed and checked against ``draft`` (ModelLoadError on mismatch) before the
        version becomes visible. ``version`` forces an id (seeding keeps the shipped one); otherwise the
        next number is used. Registering straight into production archives the current production.
        """
        src = Path(onnx_path)
        if not src.is_file():
            raise ModelLoadError(f"ONNX file not found: {src}")
        if stage not in STAGES:
            raise RegistryError(f"unknown stage '{stage}'; stages: {', '.join(STAGES)}")
        if draft.parent_version is not None and not (self._version_dir(draft.parent_version) / CARD_NAME).is_file():
            raise RegistryError(f"parent version {draft.parent_version} is not in registry {self.root}")
        if eval_report is not None and not Path(eval_report).is_file():
            raise RegistryError(f"evaluation report not found: {eval_report}")
        self._versions_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".incoming-", dir=self._versions_dir))
        try:
            shutil.copyfile(src, staging / ONNX_NAME)
            if eval_report is not None:
                shutil.copyfile(eval_report, staging / EVAL_NAME)
            # Hash the copy, not the source: the card must describe the bytes the registry holds.
            digest = sha256_file(staging / ONNX_NAME)
            created = datetime.now(timezone.utc).isoformat(timespec="seconds")
            card = self._publish(staging, draft, digest, created, stage, version)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        if stage == "production":
            self._archive_other_production(card.version)
        return card

    def set_stage(self, version: str, stage: Stage) -> ModelCard:
        """Move a version to ``stage``; promoting to production archives the previous production version."""
        if stage not in STAGES:
            raise RegistryError(f"unknown stage '{stage}'; stages: {', '.join(STAGES)}")
        card = self.get(version)
        if stage == "production":
            # Refuse to put a file that no longer matches its card in front of the belts.
            verify_against_graph(card, self.path_of(card))
        updated = card.model_copy(update={"stage": stage})
        self._write_card(updated)
        if stage == "production":
            self._archive_other_production(version)
        return updated

    # -- internals -------------------------------------------------------------------------------------------

    def _publish(
        self, staging: Path, draft: ModelCardDraft, digest: str, created: str, stage: Stage, version: str | None
    ) -> ModelCard:
        """Write the card into ``staging`` and rename it to a version folder; retries the next id if another
        process took it first."""
        draft_card = ModelCard(
            **draft.model_dump(),
            version=version or format_version(1),
            onnx_file=ONNX_NAME,
            onnx_sha256=digest,
            stage=stage,
            created_at=created,
        )
        verify_against_graph(draft_card, staging / ONNX_NAME)
        for _ in range(100):
            vid = version or format_version(max((_version_number(v) for v in self._version_names()), default=0) + 1)
            card = draft_card.model_copy(update={"version": vid})
            write_json_atomic(staging / CARD_NAME, card.model_dump(mode="json"))
            target = self._version_dir(vid)
            try:
                os.rename(staging, target)  # atomic; fails if the folder exists (another writer got this id)
                return card
            except OSError:
                if version is not None or not target.exists():
                    raise RegistryError(f"cannot create version folder {target}") from None
        raise RegistryError(f"could not allocate a version id in {self.root}")

    def _archive_other_production(self, keep: str) -> None:
        for other in self.list():
            if other.stage == "production" and other.version != keep:
                self._write_card(other.model_copy(update={"stage": "archived"}))

    def _seed(self, folder: Path) -> None:
        shipped = folder / CARD_NAME
        draft = ModelCardDraft.load(shipped)
        try:
            full: ModelCard | None = ModelCard.load(shipped)
        except ModelLoadError:
            full = None  # a draft card: take the next free id
        if full is not None and sha256_file(folder / ONNX_NAME) != full.onnx_sha256:
            raise ModelLoadError(f"shipped model {folder / ONNX_NAME} does not match the sha256 in {shipped}")
        raw_version = full.version if full is not None else None
        eval_report = folder / EVAL_NAME if (folder / EVAL_NAME).is_file() else None
        # The shipped card may name a parent in the registry it was trained in; that parent is not here.
        draft = draft.model_copy(update={"parent_version": None}) if draft.parent_version else draft
        try:
            self.register(folder / ONNX_NAME, draft, stage="production", eval_report=eval_report, version=raw_version)
        except RegistryError:
            if not self._version_names():  # lost a race with another process seeding: fine
                raise

    @property
    def _versions_dir(self) -> Path:
        return self.root / "versions"

    def _version_dir(self, version: str) -> Path:
        return self._versions_dir / version

    def _version_names(self) -> builtins.list[str]:
        if not self._versions_dir.is_dir():
            return []
        names = [p.name for p in self._versions_dir.iterdir() if VERSION_PATTERN.match(p.name) and p.is_dir()]
        return sorted(names, key=_version_number)

    def _write_card(self, card: ModelCard) -> None:
        write_json_atomic(self._version_dir(card.version) / CARD_NAME, card.model_dump(mode="json"))
