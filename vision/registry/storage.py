"""Where a registry's files live: a local folder, or any fsspec URL (``s3://``, ``gs://``, ``memory://`` ...).

Paths are relative to the registry root and use ``/``. The registry never touches files except through a
`Storage`, so the two backends differ only here:

- `LocalStorage`: a version is built in a temp folder beside the others and renamed into place (atomic, and the
  rename fails when another writer took the id); a card is rewritten with temp file + rename.
- `FsspecStorage`: object stores have no rename. A version's files are uploaded first and its card last, and a
  version without a card does not exist for readers, so a reader never sees half a version. Two writers racing
  for the same id on an object store can mix files; the sha256 on the card then refuses the version on load.
  Run one writer (the training job) per object-store registry.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from vision.atomic_file import write_bytes_atomic
from vision.errors import QCError


class StorageError(QCError):
    """The registry's storage cannot be reached or written (bad URL, missing fsspec backend, I/O error)."""


class Storage(Protocol):
    """The file operations a registry needs."""

    url: str

    @property
    def local_root(self) -> Path | None:
        """The registry folder when the files are on this machine; None for remote storage."""
        ...

    def ensure_dir(self, rel: str) -> None:
        """Create a folder (and parents) if the backend has folders."""

    def exists(self, rel: str) -> bool:
        """Whether a file exists."""
        ...

    def list_dir(self, rel: str) -> list[str]:
        """Names of the entries of a folder; empty when it does not exist."""
        ...

    def read_bytes(self, rel: str) -> bytes:
        """A file's bytes; FileNotFoundError when it does not exist."""
        ...

    def write_bytes(self, rel: str, data: bytes) -> None:
        """Replace a file whole: readers see the old or the new content."""

    def fetch(self, rel: str, dest: Path) -> None:
        """Copy a file to a local path (written under a temp name, then renamed)."""

    def staging_dir(self, versions_rel: str) -> Path:
        """A fresh local folder to build a version in before `commit_version`."""
        ...

    def commit_version(self, staging: Path, rel_dir: str, card_name: str, card: bytes) -> bool:
        """Make ``staging`` (plus the card) the version folder ``rel_dir``; False if that id is already taken."""
        ...


class LocalStorage:
    """A registry in a folder on this machine."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = str(root)

    @property
    def local_root(self) -> Path:
        return self.root

    def _path(self, rel: str) -> Path:
        return self.root / rel if rel else self.root

    def ensure_dir(self, rel: str) -> None:
        try:
            self._path(rel).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create folder {self._path(rel)}: {exc}") from exc

    def exists(self, rel: str) -> bool:
        return self._path(rel).is_file()

    def list_dir(self, rel: str) -> list[str]:
        folder = self._path(rel)
        return [p.name for p in folder.iterdir()] if folder.is_dir() else []

    def read_bytes(self, rel: str) -> bytes:
        return self._path(rel).read_bytes()

    def write_bytes(self, rel: str, data: bytes) -> None:
        write_bytes_atomic(self._path(rel), data)

    def fetch(self, rel: str, dest: Path) -> None:
        _copy_into_place(lambda tmp: shutil.copyfile(self._path(rel), tmp), dest)

    def staging_dir(self, versions_rel: str) -> Path:
        # Beside the version folders: the final rename must not cross file systems.
        return Path(tempfile.mkdtemp(prefix=".incoming-", dir=self._path(versions_rel)))

    def commit_version(self, staging: Path, rel_dir: str, card_name: str, card: bytes) -> bool:
        (staging / card_name).write_bytes(card)
        target = self._path(rel_dir)
        try:
            os.rename(staging, target)  # atomic; fails if the folder exists (another writer got this id)
        except OSError as exc:
            if target.exists():
                return False
            raise StorageError(f"cannot create version folder {target}: {exc}") from exc
        return True


class FsspecStorage:
    """A registry under an fsspec URL (object storage or any other fsspec file system)."""

    def __init__(self, url: str) -> None:
        from fsspec.core import url_to_fs

        self.url = url.rstrip("/")
        try:
            self.fs, self._base = url_to_fs(self.url)
        except (ImportError, ValueError) as exc:
            # e.g. s3:// without s3fs installed: fsspec names the package to install.
            raise StorageError(f"cannot open registry URL {url!r}: {exc}") from exc
        self._base = self._base.rstrip("/")

    @property
    def local_root(self) -> None:
        return None

    def _path(self, rel: str) -> str:
        return f"{self._base}/{rel}" if rel else self._base

    def ensure_dir(self, rel: str) -> None:
        try:
            self.fs.makedirs(self._path(rel), exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create {self.url}/{rel}: {exc}") from exc

    def exists(self, rel: str) -> bool:
        return bool(self.fs.isfile(self._path(rel)))

    def list_dir(self, rel: str) -> list[str]:
        try:
            entries = self.fs.ls(self._path(rel), detail=False)
        except FileNotFoundError:
            return []
        return [str(e).rstrip("/").rsplit("/", 1)[-1] for e in entries]

    def read_bytes(self, rel: str) -> bytes:
        return bytes(self.fs.cat_file(self._path(rel)))

    def write_bytes(self, rel: str, data: bytes) -> None:
        self.fs.pipe_file(self._path(rel), data)  # one PUT: object stores replace an object whole

    def fetch(self, rel: str, dest: Path) -> None:
        _copy_into_place(lambda tmp: self.fs.get_file(self._path(rel), str(tmp)), dest)

    def staging_dir(self, versions_rel: str) -> Path:
        return Path(tempfile.mkdtemp(prefix="qc-registry-incoming-"))

    def commit_version(self, staging: Path, rel_dir: str, card_name: str, card: bytes) -> bool:
        if self.list_dir(rel_dir):
            return False  # taken (or half-written by a writer that is still uploading)
        for path in sorted(staging.rglob("*")):
            if path.is_file():
                self.fs.put_file(str(path), self._path(f"{rel_dir}/{path.relative_to(staging).as_posix()}"))
        self.write_bytes(f"{rel_dir}/{card_name}", card)  # last: a version with a card is complete
        return True


def _copy_into_place(copy: Callable[[str], object], dest: Path) -> None:
    """Run ``copy(tmp)`` into a temp file beside ``dest``, then rename: a crash never leaves half a file."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    os.close(fd)
    try:
        copy(tmp)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def open_storage(root: str | os.PathLike[str]) -> Storage:
    """`LocalStorage` for a path or a ``file://`` URL, `FsspecStorage` for any other URL."""
    text = os.fspath(root)
    if "://" not in text:
        return LocalStorage(Path(text).expanduser())
    if text.startswith("file://"):
        from fsspec.core import url_to_fs

        _, local = url_to_fs(text)
        return LocalStorage(Path(local))
    return FsspecStorage(text)


