"""The DuckDB feature store and the data files beside it under MELODEX_HOME.

One file, one writing process at a time, idempotent writes:

* :func:`connect` -- readers (``read_only=True``) never take the write lock; both wait out another
  process's lock (tenacity back-off) and a writer applies pending schema migrations once
  (:mod:`.migrations`, DDL in the top-level ``sql/ddl/``, shipped inside the wheel).
* :func:`transaction`, :func:`insert_rows` (Arrow bulk insert), :func:`replace_rows` /
  :func:`replace_tables` (delete by key + insert in one transaction: re-running never duplicates).
* :func:`read_only_query` -- what ``melodex sql`` runs: read-only queries only, no file access.
* :func:`atomic_path` -- data files written through a temporary sibling and renamed.
* :mod:`.recovery` -- after a crash: interrupted stage rows, orphaned temporary files.
* Errors people see derive from :class:`StoreError`; ``str(exc)`` is one line.

Failure and stage-outcome records are :mod:`melodex_ml.bookkeeping`, written through these.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

# Imported on first use (PEP 562): the file helpers and errors load without duckdb and pyarrow,
# which take most of a second to import and are not needed to write a JSONL or HDF5 file.
_HOME = {
    "connect": "connection",
    "ForbiddenQuery": "errors",
    "StorageError": "errors",
    "StoreBusy": "errors",
    "StoreError": "errors",
    "atomic_path": "files",
    "ensure_folder": "files",
    "apply_migrations": "migrations",
    "ddl_statements": "migrations",
    "QueryResult": "readonly",
    "read_only_query": "readonly",
    "delete_keys": "writes",
    "insert_rows": "writes",
    "replace_rows": "writes",
    "replace_tables": "writes",
    "transaction": "writes",
}
__all__ = sorted(_HOME)

if TYPE_CHECKING:
    from melodex_ml.store.connection import connect
    from melodex_ml.store.errors import ForbiddenQuery, StorageError, StoreBusy, StoreError
    from melodex_ml.store.files import atomic_path, ensure_folder
    from melodex_ml.store.migrations import apply_migrations, ddl_statements
    from melodex_ml.store.readonly import QueryResult, read_only_query
    from melodex_ml.store.writes import delete_keys, insert_rows, replace_rows, replace_tables, transaction


def __getattr__(name: str) -> object:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    globals()[name] = value
    return value
