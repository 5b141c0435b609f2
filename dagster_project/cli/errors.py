"""What went wrong, in one line: configuration, store and disk errors, and failed Dagster runs.

A problem the user can fix (a bad ``MELODEX_*`` value, a full or read-only ``MELODEX_HOME``, a
refused query, a store held by another process) is one line and exit code 2; anything else is one
line and exit code 1. ``--debug`` adds the traceback. Failed Dagster runs are explained in runs.py.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from pathlib import Path

from melodex_ml.settings import ConfigurationError, MelodexSettings

USAGE = 2  # the user can fix it: configuration, disk, query
FAILED = 1
# What libraries that hide errno (SQLite, DuckDB, libsndfile) still say about the disk.
_DISK_TEXT = ("no space left", "disk is full", "disk quota", "read-only file system", "readonly database")
_DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}


@dataclass(frozen=True)
class Explained:
    message: str
    exit_code: int


def explain(exc: BaseException, settings: MelodexSettings | None) -> Explained:
    """One line for ``exc`` and the exit code it deserves."""
    from melodex_ml.store.errors import StoreError

    if isinstance(exc, ConfigurationError | StoreError):
        return Explained(str(exc), USAGE)
    disk = disk_problem(exc, settings)
    if disk is not None:
        return Explained(disk, USAGE)
    if isinstance(exc, FileNotFoundError) and exc.filename is None:
        return Explained(str(exc), USAGE)  # ours, e.g. "no feature store at ...; run `melodex run` first"
    return Explained(f"{type(exc).__name__}: {first_line(str(exc))} (--debug shows the traceback)", FAILED)


def disk_problem(exc: BaseException, settings: MelodexSettings | None) -> str | None:
    """'no space left in <path>' / '<path> is not writable' when that is what ``exc`` comes to."""
    from melodex_ml.store.files import storage_error

    oserror = next((e for e in chain(exc) if isinstance(e, OSError) and e.errno in _DISK_ERRNOS), None)
    if oserror is not None and oserror.filename:
        where = Path(oserror.filename)
        where = where if where.is_dir() else where.parent
    elif settings is not None:
        where = settings.home_dir
    else:
        return None
    translated = storage_error(exc, where)
    if translated is None:
        # SQLite and friends wrap disk errors in their own types and words ("unable to open database
        # file"): whatever failed, a folder that cannot be written or is full is the cause to name.
        translated = storage_error(OSError(), where)
    return None if translated is None else str(translated)


def is_disk_message(text: str) -> bool:
    return any(part in text.lower() for part in _DISK_TEXT)


def chain(exc: BaseException) -> list[BaseException]:
    seen, out = set(), []
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        out.append(current)
        current = current.__cause__ or current.__context__
    return out


def first_line(text: str) -> str:
    lines = [part.strip() for part in text.strip().splitlines() if part.strip()]
    return lines[0] if lines else ""
