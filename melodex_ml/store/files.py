"""Data files under MELODEX_HOME, written atomically, with full disks and read-only folders named.

Every data file (JSONL predictions, HDF5 embeddings, FLAC stems) is written to a temporary sibling
and renamed over the target only once complete and flushed to disk, so a reader or a crash sees
either the old file or the new one, never half of one. The temporary name carries its writer's
host and pid (``.<name>.<host>-<pid>.tmp``): :mod:`.recovery` removes those whose writer is gone.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from melodex_ml.store.errors import StorageError
from melodex_ml.store.owners import Owner, host_name

_NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})
_NOT_WRITABLE = frozenset({errno.EACCES, errno.EPERM, errno.EROFS})
# Libraries that hide errno in their message (h5py, DuckDB) still spell out strerror.
_NO_SPACE_TEXT = ("no space left on device", "disk quota exceeded")
_NOT_WRITABLE_TEXT = ("read-only file system", "permission denied")
# Below this much free space an error without errno (libsndfile's "System error") is a full disk.
_NEARLY_FULL_BYTES = 1 << 20
_TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.(?P<host>[A-Za-z0-9-]+)-(?P<pid>\d+)\.tmp$")


def temp_path(path: Path) -> Path:
    """The temporary sibling this process writes ``path`` through (hidden: globs skip it)."""
    return path.with_name(f".{path.name}.{host_name()}-{os.getpid()}.tmp")


def temp_owner(path: Path) -> Owner | None:
    """The writer named in a temporary file's name; None for a name this module did not make."""
    match = _TEMP_NAME.match(path.name)
    return Owner(int(match["pid"]), match["host"]) if match else None


def storage_error(exc: BaseException, where: Path) -> StorageError | None:
    """The StorageError ``exc`` amounts to when writing into folder ``where``, or None."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        number = getattr(cause, "errno", None)
        text = str(cause).lower()
        if number in _NO_SPACE or any(t in text for t in _NO_SPACE_TEXT):
            return StorageError(where, "no_space")
        if number in _NOT_WRITABLE or any(t in text for t in _NOT_WRITABLE_TEXT):
            return StorageError(where, "not_writable")
        cause = cause.__cause__ or cause.__context__
    if not isinstance(exc, OSError | RuntimeError):
        return None  # a bug or bad data, whatever the disk looks like
    folder = _existing_ancestor(where)
    if not os.access(folder, os.W_OK):  # EROFS counts too: access(2) checks the mount
        return StorageError(where, "not_writable")
    if shutil.disk_usage(folder).free < _NEARLY_FULL_BYTES:
        return StorageError(where, "no_space")
    return None


def ensure_folder(folder: Path) -> Path:
    """``mkdir -p``, with a full disk or read-only home raised as StorageError."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        translated = storage_error(exc, folder)
        if translated is None:
            raise
        raise translated from exc
    return folder


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path to write ``path`` through; it replaces ``path`` when the block succeeds.

    On any error the temporary file is removed and ``path`` keeps its old content. A write that
    failed because the disk is full or the folder read-only raises StorageError.
    """
    path = Path(path)
    ensure_folder(path.parent)
    tmp = temp_path(path)
    try:
        yield tmp
        _flush_to_disk(tmp)
        os.replace(tmp, path)
    except Exception as exc:
        translated = storage_error(exc, path.parent)
        if translated is not None:
            raise translated from exc
        raise
    finally:
        if os.path.lexists(tmp):  # unlink raises EROFS on a read-only mount even for a missing file
            tmp.unlink()


def _flush_to_disk(path: Path) -> None:
    # Without fsync a power cut after the rename can leave an empty file under the final name.
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _existing_ancestor(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path("/")
