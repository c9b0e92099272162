"""`Registry`: versions of ONNX models with their cards, stages, stage history and (optionally) torch weights."""

from __future__ import annotations

import builtins
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from vision.errors import ModelLoadError, QCError
from vision.external_data import check_external_data, external_data_files
from vision.model_card import (
    STAGES,
    GraderSpec,
    VERSION_PATTERN,
    ModelCard,
    ModelCardDraft,
    Stage,
    StageChange,
    sha256_file,
    verify_against_graph,
)
from vision.registry.cache import cache_dir_for, default_cache_root
from vision.registry.history import now_utc, previous_production, replaced_reason, with_stage
from vision.registry.layout import (
    CARD_NAME,
    DEFAULT_MODEL_DIR,
    EVAL_NAME,
    GRADER_NAME,
    ONNX_NAME,
    SHIPPED_HISTORY,
    VERSIONS,
    WEIGHTS_NAME,
    default_registry_root,
    format_version,
    version_number,
)
from vision.registry.storage import Storage, StorageError, open_storage


def verify_grader(spec: GraderSpec, path: Path, *, what: str) -> None:
    """`vision.grader.verify_grader`, imported when a grader is checked: listing a registry needs no ONNX Runtime."""
    from vision.grader import verify_grader as verify

    verify(spec, path, what=what)


def grader_file_for(model: Path, spec: GraderSpec) -> Path:
    """The grader file that the card beside ``model`` names: ``spec.file`` beside the model when it is there; for a
    model inside the shipped model folder (its int8 deployment, a history version), which ships each ONNX file once,
    the shipped ``*.onnx`` file whose sha256 is the card's grader sha256. The path beside the model when neither is
    found, for the caller's check to name as missing."""
    beside = model.parent / spec.file
    if beside.is_file():
        return beside
    root = DEFAULT_MODEL_DIR.resolve()
    if not model.resolve().is_relative_to(root):
        return beside
    try:
        return ShippedFiles(root).find(model.parent, spec.file, spec.sha256)
    except ModelLoadError:
        return beside


def grader_section_beside(model: Path) -> GraderSpec | None:
    """The grader section of the card beside ``model`` (a registry version's folder, the shipped model folder, a
    `qc export` output); None when there is no card there or it names no grader."""
    card = model.parent / CARD_NAME
    return ModelCardDraft.load(card).grader if card.is_file() else None


class RegistryError(QCError):
    """A registry operation cannot be done: unknown version, no production model, bad stage, bad root."""


class Registry:
    """A model registry at a folder or an fsspec URL. Constructing one touches nothing; `open` creates and seeds it.

    ``root`` stays a `Path` for a local registry (``file://`` URLs become paths) and is the URL string otherwise.
    Remote versions are copied into ``cache_dir`` (default `default_cache_root`) before anything reads them.
    """

    def __init__(self, root: str | os.PathLike[str], *, cache_dir: str | os.PathLike[str] | None = None) -> None:
        try:
            self._store: Storage = open_storage(root)
        except StorageError as exc:
            raise RegistryError(str(exc)) from exc
        local = self._store.local_root
        self.root: Path | str = local if local is not None else self._store.url
        self._cache_root = Path(cache_dir) if cache_dir is not None else default_cache_root()

    @classmethod
    def open(
        cls,
        root: str | os.PathLike[str] | None = None,
        *,
        seed_from: Path | None = DEFAULT_MODEL_DIR,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> Registry:
        """Open (creating if needed) the registry at ``root`` (default: `default_registry_root`).

        An empty registry is seeded with the shipped model folder (``model.onnx`` + ``card.json`` [+ ``eval.json``,
        ``weights.pt``]) as a production version, keeping the shipped card's version id; no folder, no seeding.
        """
        reg = cls(default_registry_root() if root is None else root, cache_dir=cache_dir)
        try:
            reg._store.ensure_dir(VERSIONS)
        except StorageError as exc:
            raise RegistryError(f"cannot create model registry at {reg.root}: {exc}") from exc
        if seed_from is not None and not reg._version_names() and (seed_from / ONNX_NAME).is_file():
            reg._seed(seed_from)
        return reg

    @property
    def is_local(self) -> bool:
        """Whether the registry's files are on this machine (else they are copied into the cache to be read)."""
        return self._store.local_root is not None

    # -- reading ---------------------------------------------------------------------------------------------

    def list(self) -> builtins.list[ModelCard]:
        """All versions' cards, oldest first."""
        return [self.get(v) for v in self._version_names()]

    def by_stage(self, stage: Stage) -> builtins.list[ModelCard]:
        """The versions currently in ``stage``, oldest first."""
        if stage not in STAGES:
            raise RegistryError(f"unknown stage '{stage}'; stages: {', '.join(STAGES)}")
        return [c for c in self.list() if c.stage == stage]

    def get(self, version: str) -> ModelCard:
        """The card of one version; RegistryError if there is no such version, ModelLoadError if its card is bad."""
        if not VERSION_PATTERN.match(version):
            raise RegistryError(f"'{version}' is not a version id (like 'v0001')")
        rel = f"{VERSIONS}/{version}/{CARD_NAME}"
        try:
            raw = self._store.read_bytes(rel)
        except (FileNotFoundError, NotADirectoryError):
            known = ", ".join(self._version_names()) or "none"
            raise RegistryError(f"no model version {version} in registry {self.root} (versions: {known})") from None
        except OSError as exc:
            raise ModelLoadError(f"{self._location(rel)}: cannot read model card ({exc})") from exc
        card = ModelCard.from_json(raw, self._location(rel))
        if card.version != version:
            raise ModelLoadError(
                f"{self._location(rel)}: card says version {card.version} but lives in folder {version}"
            )
        return card

    def production(self) -> ModelCard:
        """The production version's card; RegistryError if none is in production."""
        prod = self.by_stage("production")
        if not prod:
            raise RegistryError(
                f"no production model in registry {self.root}; promote one with `qc registry promote VERSION`"
            )
        return prod[-1]

    def location_of(self, card: ModelCard, name: str | None = None) -> str:
        """Where a version's ONNX file (or its file ``name``, e.g. its grader) lives in the registry (a path, or a
        URL for a remote registry), for people."""
        return self._location(f"{VERSIONS}/{card.version}/{name or card.onnx_file}")

    def path_of(self, card: ModelCard) -> Path:
        """Local path of a version's ONNX file (a remote version is copied into the cache first; not verified)."""
        return self._local_version_dir(card) / card.onnx_file

    def eval_path(self, card: ModelCard) -> Path | None:
        """Local path of a version's stored evaluation report, if it has one."""
        if not self._store.exists(f"{VERSIONS}/{card.version}/{EVAL_NAME}"):
            return None
        return self._local_version_dir(card) / EVAL_NAME

    def weights_path(self, card: ModelCard) -> Path | None:
        """Local path of the torch weights stored with a version (None if it has none), after a sha256 check."""
        if card.weights_file is None:
            return None
        path = self._local_version_dir(card) / card.weights_file
        if not path.is_file():
            where = self._location(self._rel(card, card.weights_file))
            raise ModelLoadError(f"weights of {card.version} not found: {where}")
        digest = sha256_file(path)
        if digest != card.weights_sha256:
            raise ModelLoadError(
                f"{path}: sha256 {digest} does not match the weights sha256 on card {card.version} "
                f"({card.weights_sha256}); the file is corrupt or was replaced"
            )
        return path

    def grader_path(self, card: ModelCard, *, verify: bool = True) -> Path | None:
        """Local path of the grader stored with a version (None if its card has none), after checking its sha256,
        external data and graph against the card's grader section (ModelLoadError naming the version otherwise).
        ``verify=False`` skips the check, for a caller that just had `load_verified` check the whole version."""
        if card.grader is None:
            return None
        path = self._local_version_dir(card) / card.grader.file
        if verify:
            verify_grader(card.grader, path, what=card.version)
        return path

    def load_verified(self, version: str | None = None) -> tuple[ModelCard, Path]:
        """Card and LOCAL ONNX path of ``version`` (default: production), after checking sha256, external data
        and graph against the card; a version with a grader has its grader checked too (the two are one unit:
        a bad grader refuses the version). A remote version is copied into the local cache and checked there."""
        card = self.production() if version is None else self.get(version)
        path = self.path_of(card)
        self._verify(card, path)
        return card, path

    def rollback_target(self) -> ModelCard:
        """The version `rollback` would put back in production (read from the current production's history)."""
        current = self.production()
        previous = previous_production(current)
        if previous is None:
            raise RegistryError(
                f"cannot roll back: the stage history of production version {current.version} names no earlier "
                "production version"
            )
        return self.get(previous)

    # -- writing ---------------------------------------------------------------------------------------------

    def register(
        self,
        onnx_path: str | os.PathLike[str],
        draft: ModelCardDraft,
        *,
        stage: Stage = "candidate",
        eval_report: str | os.PathLike[str] | None = None,
        weights: str | os.PathLike[str] | None = None,
        grader: str | os.PathLike[str] | None = None,
        version: str | None = None,
        reason: str = "registered",
    ) -> ModelCard:
        """Add an ONNX file (and optionally its torch ``weights``, an ultralytics .pt, and its ``grader``, the ONNX
        file ``draft.grader`` describes) as the next version.

        The files are copied, hashed and checked against ``draft`` (ModelLoadError on mismatch, or on external
        data outside the file's folder; external data inside it is copied along) before the version becomes
        visible. ``version`` forces an id (seeding keeps the shipped one); otherwise the next number is used.
        Registering straight into production archives the current production. A draft without a code version
        gets the running code's. A draft with a grader section needs its ``grader`` file (sha256 and graph checked
        against the section), and a ``grader`` file needs the section.
        """
        src = Path(onnx_path)
        if not src.is_file():
            raise ModelLoadError(f"ONNX file not found: {src}")
        if stage not in STAGES:
            raise RegistryError(f"unknown stage '{stage}'; stages: {', '.join(STAGES)}")
        if draft.parent_version is not None and not self._store.exists(self._rel_card(draft.parent_version)):
            raise RegistryError(f"parent version {draft.parent_version} is not in registry {self.root}")
        if eval_report is not None and not Path(eval_report).is_file():
            raise RegistryError(f"evaluation report not found: {eval_report}")
        if weights is not None and not Path(weights).is_file():
            raise RegistryError(f"weights file not found: {weights}")
        self._check_grader_args(draft, grader)
        check_external_data(src)
        if draft.code_version is None:
            from vision.code_version import current_code_version

            draft = draft.model_copy(update={"code_version": current_code_version()})
        self._store.ensure_dir(VERSIONS)
        staging = self._store.staging_dir(VERSIONS)
        try:
            shutil.copyfile(src, staging / ONNX_NAME)
            for _, location in external_data_files(src):
                (staging / location).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src.parent / location, staging / location)
            if eval_report is not None:
                shutil.copyfile(eval_report, staging / EVAL_NAME)
            extra: dict[str, object] = {}
            if weights is not None:
                shutil.copyfile(weights, staging / WEIGHTS_NAME)
                extra = {"weights_file": WEIGHTS_NAME, "weights_sha256": sha256_file(staging / WEIGHTS_NAME)}
            if grader is not None and draft.grader is not None:
                shutil.copyfile(grader, staging / GRADER_NAME)
                # The copy is checked against the sha256 the draft states: the card describes the bytes held here.
                extra["grader"] = draft.grader.model_copy(update={"file": GRADER_NAME})
            # Hash the copy, not the source: the card must describe the bytes the registry holds.
            card = ModelCard(
                **{**draft.model_dump(), **extra},
                version=version or format_version(1),
                onnx_file=ONNX_NAME,
                onnx_sha256=sha256_file(staging / ONNX_NAME),
                stage=stage,
                created_at=now_utc(),
            )
            verify_against_graph(card, staging / ONNX_NAME)
            if card.grader is not None:
                verify_grader(card.grader, staging / GRADER_NAME, what=f"the version being registered from {src}")
            replaced = self._production_versions() if stage == "production" else []
            entry = StageChange(stage=stage, at=card.created_at, reason=reason, replaced=(replaced or [None])[-1])
            card = self._publish(staging, card.model_copy(update={"history": [entry]}), version)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        if stage == "production":
            self._archive_other_production(card.version, replaced_reason(card.version, ""))
        return card

    def set_stage(self, version: str, stage: Stage, *, reason: str = "") -> ModelCard:
        """Move a version to ``stage``, recording the change (and ``reason``) in its history.

        Promoting to production verifies the file first and archives the previous production version. Moving a
        version to the stage it is already in changes nothing.
        """
        if stage not in STAGES:
            raise RegistryError(f"unknown stage '{stage}'; stages: {', '.join(STAGES)}")
        card = self.get(version)
        if card.stage == stage:
            return card
        replaced = None
        if stage == "production":
            # Refuse to put a file that no longer matches its card in front of the belts.
            self._verify(card, self.path_of(card))
            replaced = (self._production_versions() or [None])[-1]
        updated = with_stage(card, stage, reason, replaced=replaced)
        self._write_card(updated)
        if stage == "production":
            self._archive_other_production(version, replaced_reason(version, reason))
        return updated

    def rollback(self, *, reason: str = "") -> ModelCard:
        """Put the previous production version back in production and archive the current one.

        "Previous" is read from the stage history (see `history.previous_production`); RegistryError when there
        is none. The restored version is verified first (nothing changes if it fails). Returns its new card.
        """
        current = self.production()
        target = self.rollback_target()
        self._verify(target, self.path_of(target))
        restored = with_stage(target, "production", reason, replaced=current.version, rollback=True)
        self._write_card(restored)  # the new production first: readers never find no production at all
        why = f"rolled back to {target.version}" + (f": {reason}" if reason else "")
        for other in self.by_stage("production"):
            if other.version != target.version:
                self._write_card(with_stage(other, "archived", why, rollback=True))
        return restored

    # -- internals -------------------------------------------------------------------------------------------

    def _verify(self, card: ModelCard, onnx_path: Path) -> None:
        """The version's detector and, if it has one, its grader, against the card."""
        verify_against_graph(card, onnx_path)
        if card.grader is not None:
            verify_grader(card.grader, onnx_path.parent / card.grader.file, what=card.version)

    @staticmethod
    def _check_grader_args(draft: ModelCardDraft, grader: str | os.PathLike[str] | None) -> None:
        """RegistryError when the draft's grader section and the grader file do not come together."""
        if draft.grader is not None and grader is None:
            raise RegistryError(
                f"the card names a grader ({draft.grader.file}, sha256 {draft.grader.sha256[:12]}...) but no grader "
                "file was given (qc registry register --grader PATH)"
            )
        if grader is None:
            return
        if draft.grader is None:
            raise RegistryError(
                f"grader {grader} given, but the card has no grader section (sha256, classes, input size)"
            )
        if not Path(grader).is_file():
            raise RegistryError(f"grader file not found: {grader}")
        if external_data_files(Path(grader)):
            raise ModelLoadError(f"{grader}: a grader with external data files is not supported; save it as one file")

    def _publish(self, staging: Path, card: ModelCard, version: str | None) -> ModelCard:
        """Commit ``staging`` as a version folder; retries the next id if another writer took it first."""
        for _ in range(100):
            taken = (version_number(v) for v in self._version_names(all_ids=True))
            vid = version or format_version(max(taken, default=0) + 1)
            card = card.model_copy(update={"version": vid})
            body = (json.dumps(card.model_dump(mode="json"), indent=2) + "\n").encode()
            if self._store.commit_version(staging, f"{VERSIONS}/{vid}", CARD_NAME, body):
                return card
            if version is not None:
                raise RegistryError(f"cannot create version {vid} in {self.root}: it exists")
        raise RegistryError(f"could not allocate a version id in {self.root}")

    def _production_versions(self) -> builtins.list[str]:
        return [c.version for c in self.by_stage("production")]

    def _archive_other_production(self, keep: str, reason: str) -> None:
        for other in self.by_stage("production"):
            if other.version != keep:
                self._write_card(with_stage(other, "archived", reason))

    def _seed(self, folder: Path) -> None:
        """Seed an empty registry: the shipped model's earlier versions (``history/<version>/``, a folder with a
        card, oldest first) as archived versions, so a rollback target and the lineage are there from the start,
        then the shipped model itself as production.

        A history version may omit its detector or grader when another ``*.onnx`` file of the shipped folder holds
        it byte for byte: the file is then found by the sha256 its card records. Every version's files are found
        and checked against its card (sha256, then the graph and the grader's classes) before the first version is
        registered, so a missing file or one that is not its card's leaves the registry empty."""
        history = folder / SHIPPED_HISTORY
        olds = sorted(p for p in history.iterdir() if (p / CARD_NAME).is_file()) if history.is_dir() else []
        shipped = ShippedFiles(folder)
        plans = [
            self._seed_plan(old, "archived", f"seeded from the shipped model's history {old}", shipped)
            for old in olds
        ]
        plans.append(self._seed_plan(folder, "production", f"seeded from the shipped model {folder}", None))
        for plan in plans:
            self._seed_one(plan)

    @staticmethod
    def _seed_plan(folder: Path, stage: Stage, reason: str, shipped: ShippedFiles | None) -> _SeedPlan:
        """The files one shipped folder is registered from, found and checked against its card. ``shipped`` (for a
        history version) finds a file missing from the folder by its sha256; without it every file must be there."""
        card_path = folder / CARD_NAME
        draft = ModelCardDraft.load(card_path)
        try:
            full: ModelCard | None = ModelCard.load(card_path)
        except ModelLoadError:
            full = None  # a draft card: take the next free id
        onnx = folder / ONNX_NAME
        if not onnx.is_file():
            if shipped is None:
                raise ModelLoadError(f"shipped model {folder}: {ONNX_NAME} is not in the folder")
            if full is None:
                raise ModelLoadError(
                    f"shipped history version {folder}: {ONNX_NAME} is not in the folder, and its card {card_path} "
                    "is a draft that records no sha256 to find it by (a draft card needs its file in the folder)"
                )
            onnx = shipped.find(folder, ONNX_NAME, full.onnx_sha256)
        elif full is not None and sha256_file(onnx) != full.onnx_sha256:
            raise ModelLoadError(f"shipped model {onnx} does not match the sha256 in {card_path}")
        grader: Path | None = None
        if draft.grader is not None:
            grader = folder / draft.grader.file
            if not grader.is_file():  # one that is there is checked by `verify_grader` below, sha256 first
                if shipped is None:
                    raise ModelLoadError(
                        f"shipped model {folder}: its card {card_path} names the grader {draft.grader.file} "
                        f"(sha256 {draft.grader.sha256}), which is not in the folder"
                    )
                grader = shipped.find(folder, draft.grader.file, draft.grader.sha256)
        if full is not None:  # a draft card has no sha256 or graph description to check yet: `register` does
            verify_against_graph(full, onnx)
        if grader is not None and draft.grader is not None:
            verify_grader(draft.grader, grader, what=f"the shipped version {folder}")
        return _SeedPlan(
            folder=folder,
            onnx=onnx,
            draft=draft,
            version=full.version if full is not None else None,
            stage=stage,
            reason=reason,
            eval_report=folder / EVAL_NAME if (folder / EVAL_NAME).is_file() else None,
            weights=Registry._shipped_weights(folder, full, shipped),
            grader=grader,
        )

    @staticmethod
    def _shipped_weights(folder: Path, full: ModelCard | None, shipped: ShippedFiles | None) -> Path | None:
        """The torch weights to store with a shipped version: its folder's, else (a history version) the shipped
        file its card's ``weights_sha256`` names, so the golden-frame gate can still check it when ops go back to
        it; None when neither is there (weights are optional)."""
        if (folder / WEIGHTS_NAME).is_file():
            return folder / WEIGHTS_NAME
        if shipped is None or full is None or not full.weights_sha256:
            return None
        return shipped.lookup(WEIGHTS_NAME, full.weights_sha256)

    def _seed_one(self, plan: _SeedPlan) -> None:
        draft = plan.draft
        # The shipped card may name a parent in the registry it was trained in; unless the history brought it along,
        # that parent is not here.
        if draft.parent_version and not self._store.exists(self._rel_card(draft.parent_version)):
            draft = draft.model_copy(update={"parent_version": None})
        try:
            # `register` copies the file in: a seeded version never points back into the shipped folder.
            self.register(
                plan.onnx,
                draft,
                stage=plan.stage,
                eval_report=plan.eval_report,
                weights=plan.weights,
                grader=plan.grader,
                version=plan.version,
                reason=plan.reason,
            )
        except RegistryError:
            if not self._version_names():  # lost a race with another process seeding: fine
                raise

    def _rel(self, card: ModelCard, name: str) -> str:
        return f"{VERSIONS}/{card.version}/{name}"

    @staticmethod
    def _rel_card(version: str) -> str:
        return f"{VERSIONS}/{version}/{CARD_NAME}"

    def _location(self, rel: str) -> str:
        local = self._store.local_root
        return str(local / rel) if local is not None else f"{self._store.url}/{rel}"

    def _version_names(self, *, all_ids: bool = False) -> builtins.list[str]:
        """Version ids, oldest first: folders with a card (a remote version without one is still uploading);
        ``all_ids`` also counts card-less folders, so a new id never lands on a half-written version."""
        names = [n for n in self._store.list_dir(VERSIONS) if VERSION_PATTERN.match(n)]
        if not all_ids:
            names = [n for n in names if self._store.exists(self._rel_card(n))]
        return sorted(names, key=version_number)

    def _local_version_dir(self, card: ModelCard) -> Path:
        """The folder holding the version's files on this machine: the version folder itself, or its cache copy
        (files whose sha256 already matches the card are not fetched again)."""
        local = self._store.local_root
        if local is not None:
            return local / VERSIONS / card.version
        target = cache_dir_for(self._store.url, self._cache_root) / card.version
        known = {card.onnx_file: card.onnx_sha256}
        if card.weights_file is not None and card.weights_sha256 is not None:
            known[card.weights_file] = card.weights_sha256
        if card.grader is not None:
            known[card.grader.file] = card.grader.sha256
        for rel in self._remote_files(f"{VERSIONS}/{card.version}"):
            name = rel.split("/", 2)[2]
            dest = target / name
            if name == CARD_NAME:
                continue
            if name in known and dest.is_file() and sha256_file(dest) == known[name]:
                continue
            self._store.fetch(rel, dest)
        return target

    def _remote_files(self, rel_dir: str) -> builtins.list[str]:
        """Every file under a remote folder (external data may sit in subfolders), as registry-relative paths."""
        found = []
        for name in self._store.list_dir(rel_dir):
            rel = f"{rel_dir}/{name}"
            if self._store.exists(rel):
                found.append(rel)
            else:
                found.extend(self._remote_files(rel))
        return found

    def _write_card(self, card: ModelCard) -> None:
        body = (json.dumps(card.model_dump(mode="json"), indent=2) + "\n").encode()
        self._store.write_bytes(self._rel_card(card.version), body)


@dataclass(frozen=True)
class _SeedPlan:
    """What one shipped folder is registered from (`Registry._seed_plan`)."""

    folder: Path
    onnx: Path
    draft: ModelCardDraft
    version: str | None
    stage: Stage
    reason: str
    eval_report: Path | None
    weights: Path | None
    grader: Path | None


class ShippedFiles:
    """The files under a shipped model folder (recursively, history included), found by sha256 among those with
    the same suffix as the file they stand in for (``*.onnx``, ``*.pt``).

    Nothing is hashed until a file is looked up; each file is hashed at most once, and a lookup stops at the first
    match (byte-identical files are interchangeable)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._digests: dict[Path, str] = {}
        self._candidates: dict[str, builtins.list[Path]] = {}

    def lookup(self, name: str, sha256: str) -> Path | None:
        """A file under the shipped folder with ``name``'s suffix whose sha256 is ``sha256``; None when there is
        none."""
        suffix = Path(name).suffix
        if suffix not in self._candidates:
            self._candidates[suffix] = sorted(p for p in self.root.rglob(f"*{suffix}") if p.is_file())
        for path in self._candidates[suffix]:
            digest = self._digests.get(path)
            if digest is None:
                digest = self._digests[path] = sha256_file(path)
            if digest == sha256:
                return path
        return None

    def find(self, folder: Path, name: str, sha256: str) -> Path:
        """`lookup`, standing in for ``folder / name``: ModelLoadError naming the folder, the file and the sha256
        when there is none."""
        found = self.lookup(name, sha256)
        if found is None:
            raise ModelLoadError(
                f"shipped history version {folder}: {name} is not in the folder, and no *{Path(name).suffix} file "
                f"under {self.root} has the sha256 its card records ({sha256}); the version cannot be seeded "
                "without it"
            )
        return found
