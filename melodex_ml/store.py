"""The DuckDB feature store: one file, one writer at a time, idempotent writes.

DuckDB lets one process hold a read-write connection. Writers therefore retry while the
file is locked by another process (Dagster additionally serialises writer assets through a
pool of size 1), and every write replaces a track's rows inside one transaction so that
re-running a partition never duplicates rows.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pyarrow as pa

log = logging.getLogger(__name__)

DDL_DIR = Path(__file__).resolve().parent.parent / "sql" / "ddl"


class StoreBusy(RuntimeError):
    """The DuckDB file stayed locked by another process for longer than the retry budget."""


def ddl_statements() -> str:
    """All DDL files in order; each is idempotent (CREATE ... IF NOT EXISTS / OR REPLACE)."""
    return "\n".join(p.read_text() for p in sorted(DDL_DIR.glob("*.sql")))


def _is_lock_error(exc: Exception) -> bool:
    text = str(exc).lower()
    return "lock" in text or "conflicting" in text or "being used by another" in text


@contextmanager
def connect(
    path: Path | str, *, read_only: bool = False, timeout_s: float = 600.0
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the store, waiting while another process holds the write lock."""
    path = Path(path)
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    elif not path.exists():
        raise FileNotFoundError(f"no feature store at {path}; run `melodex run` or `melodex demo` first")
    deadline = time.monotonic() + timeout_s
    delay = 0.05
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only)
            break
        except duckdb.IOException as exc:
            if not _is_lock_error(exc) or time.monotonic() > deadline:
                if _is_lock_error(exc):
                    raise StoreBusy(f"{path} is locked by another process: {exc}") from exc
                raise
            time.sleep(delay + random.uniform(0, delay))
            delay = min(delay * 2, 2.0)
    try:
        if not read_only:
            con.execute(ddl_statements())
        yield con
    finally:
        con.close()


def replace_rows(
    con: duckdb.DuckDBPyConnection,
    table: str,
    key_column: str,
    keys: Sequence[object],
    rows: Sequence[dict],
) -> int:
    """Delete every row whose key is in ``keys`` and insert ``rows``, atomically."""
    return replace_tables(con, {table: rows}, key_column, keys)


def replace_tables(
    con: duckdb.DuckDBPyConnection,
    rows_by_table: Mapping[str, Sequence[dict]],
    key_column: str,
    keys: Sequence[object],
) -> int:
    """`replace_rows` over several tables in one transaction: readers never see half an item.

    Columns are matched by name, so a dataclass turned into a dict maps onto the table.
    """
    con.execute("BEGIN TRANSACTION")
    try:
        for table, rows in rows_by_table.items():
            if keys:
                con.execute(f"DELETE FROM {table} WHERE {key_column} IN (SELECT UNNEST(?))", [list(keys)])
            if rows:
                # Arrow + INSERT BY NAME is a bulk insert; executemany would go row by row.
                con.register("_incoming_rows", pa.Table.from_pylist(list(rows)))
                try:
                    con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _incoming_rows")
                finally:
                    con.unregister("_incoming_rows")
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return sum(len(rows) for rows in rows_by_table.values())
