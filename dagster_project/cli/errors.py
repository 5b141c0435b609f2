"""What went wrong, in one line: configuration, store and disk errors, and failed Dagster runs.

A problem the user can fix (a bad ``MELODEX_*`` value, a full or read-only ``MELODEX_HOME``, a
refused query, a store held by another process) is one line and exit code 2; anything else is one
line and exit code 1. ``--debug`` adds the traceback. A Dagster run that failed is explained by its
root cause: the innermost error of each failed step, where Dagster wraps the stage's own
exception in its step-failure error.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from pathlib import Path

from melodex_ml.settings import ConfigurationError, MelodexSettings

USAGE = 2  # the user can fix it: configuration, disk, query
FAILED = 1
# Our own errors, whose message is written for people: a failed step quotes them as they are.
_PEOPLE_ERRORS = {"StoreError", "StorageError", "StoreBusy", "ForbiddenQuery", "ConfigurationError"}
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
    return None if translated is None else str(translated)


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


def root_cause(error) -> tuple[str, bool]:
    """One line from a Dagster SerializableErrorInfo, and whether it is one of our errors for people:
    our own error if the chain holds one, else the innermost cause (Dagster's step error only says
    which step failed)."""
    errors = []
    while error is not None and len(errors) < 20:
        errors.append(error)
        error = error.cause or error.context
    if not errors:
        return "unknown error", False
    chosen = next((e for e in errors if e.cls_name in _PEOPLE_ERRORS), errors[-1])
    message = first_line(chosen.message)
    prefix, separator, rest = message.partition(": ")
    if separator and prefix.rsplit(".", 1)[-1] == chosen.cls_name:
        message = rest  # Dagster keeps "module.ClassName: message"
    if chosen.cls_name in _PEOPLE_ERRORS:
        return message, True
    return f"{chosen.cls_name}: {message}", False


def run_failures(instance, run_id: str) -> list[tuple[str, str, bool]]:
    """(step, root cause, ours) per failed step of a run; the run's own failure when no step failed."""
    import dagster as dg

    found = []
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE):
        found.append((entry.step_key or "step", *root_cause(entry.dagster_event.step_failure_data.error)))
    if not found:
        for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_FAILURE):
            error = getattr(entry.dagster_event.event_specific_data, "error", None)
            cause = root_cause(error) if error is not None else (first_line(entry.message or "run failed"), False)
            found.append(("run", *cause))
    return list(dict.fromkeys(found))
