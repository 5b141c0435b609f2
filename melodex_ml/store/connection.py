"""Connections to the DuckDB file: readers read-only, writers migrate once, both wait out the lock.

DuckDB admits one writing process per file, and a read-only process only while no process
writes; both open calls fail at once with a lock error otherwise. :func:`connect` retries them
(tenacity, jittered exponential back-off) for up to ``timeout_s`` and then raises StoreBusy.
Writers should hold their connection briefly: Dagster serialises writer assets through a pool
of size 1 besides, and readers (``read_only=True``) never take the write lock.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import duckdb
from tenacity import RetryError, Retrying, retry_if_exception, stop_after_delay, wait_random_exponential

from melodex_ml.store.errors import StoreBusy
from melodex_ml.store.files import ensure_folder, storage_error
from melodex_ml.store.migrations import apply_migrations

log = logging.getLogger(__name__)

_LOCK_TEXT = ("could not set lock", "conflicting lock", "being used by another", "resource temporarily unavailable")
# DuckDB refuses a second connection of another mode to a file this process has open.
_OTHER_MODE_TEXT = "different configuration than existing connections"


def _is_lock_error(exc: BaseException) -> bool:
    return isinstance(exc, duckdb.IOException) and any(t in str(exc).lower() for t in _LOCK_TEXT)


def _open(path: Path, read_only: bool, config: Mapping[str, object], timeout_s: float) -> duckdb.DuckDBPyConnection:
    retrying = Retrying(
        retry=retry_if_exception(_is_lock_error),
        stop=stop_after_delay(timeout_s),
        wait=wait_random_exponential(multiplier=0.05, max=2.0),
    )
    try:
        for attempt in retrying:
            with attempt:
                return duckdb.connect(str(path), read_only=read_only, config=dict(config))
    except RetryError as exc:
        raise StoreBusy(f"{path} is locked by another process (waited {timeout_s:.0f} s)") from exc.last_attempt.exception()
    raise AssertionError("unreachable")


def _open_reader(path: Path, config: Mapping[str, object], timeout_s: float) -> duckdb.DuckDBPyConnection:
    try:
        return _open(path, True, config, timeout_s)
    except duckdb.ConnectionException as exc:
        if _OTHER_MODE_TEXT not in str(exc) or config:
            raise
        # This process already holds a writer on the file, hence the lock: reading through another
        # connection of that database takes nothing more (and DuckDB admits no read-only one).
        log.debug("%s: writer open in this process; reading through it", path)
        return _open(path, False, {}, timeout_s)


@contextmanager
def connect(
    path: Path | str,
    *,
    read_only: bool = False,
    timeout_s: float = 600.0,
    config: Mapping[str, object] | None = None,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the store, waiting while another process holds the lock; a writer applies pending migrations.

    Raises StoreBusy after ``timeout_s`` of waiting, FileNotFoundError for a reader of a store that
    does not exist yet, and StorageError when the home is read-only or its disk full -- also for a
    write inside the ``with`` block that fails so.
    """
    path = Path(path)
    if read_only and not path.exists():
        raise FileNotFoundError(f"no feature store at {path}; run `melodex run` or `melodex demo` first")
    if not read_only:
        ensure_folder(path.parent)
    try:
        con = _open_reader(path, config or {}, timeout_s) if read_only else _open(path, False, config or {}, timeout_s)
    except duckdb.IOException as exc:  # a read-only or full home fails at open already
        translated = storage_error(exc, path.parent)
        if translated is None:
            raise
        raise translated from exc
    try:
        if not read_only:
            apply_migrations(con)
        yield con
    except duckdb.Error as exc:  # IO, Transaction or Fatal errors that say "No space left on device"
        translated = storage_error(exc, path.parent)
        if translated is None:
            raise
        raise translated from exc
    finally:
        con.close()
