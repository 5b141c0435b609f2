"""Writes: short transactions, Arrow bulk inserts, and replace-by-key so re-runs never duplicate rows."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime

import duckdb
import pyarrow as pa


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """BEGIN ... COMMIT, or ROLLBACK when the block raises (interrupts included)."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def insert_rows(con: duckdb.DuckDBPyConnection, table: str, rows: Sequence[Mapping[str, object]]) -> int:
    """Insert dict rows by column name as one Arrow batch (executemany would go row by row).

    Arrow infers each column's type from the values and DuckDB casts on insert; a column that is
    NULL in every row takes the table's own type. A column missing from the rows takes its default.
    """
    if not rows:
        return 0
    if len(rows) <= _FEW_ROWS and all(_plain(v) for row in rows for v in row.values()):
        # pyarrow imports pandas on its first Python-list conversion (half a second): a few rows of
        # plain values -- a scan's history row, a stage outcome -- go in as parameters instead.
        columns = list(rows[0])  # as pa.Table.from_pylist: the first row's keys, missing ones NULL
        names = ", ".join(f'"{c}"' for c in columns)
        con.executemany(
            f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(columns))})",
            [[row.get(c) for c in columns] for row in rows],
        )
        return len(rows)
    batch = pa.Table.from_pylist(list(rows))
    untyped = [i for i, f in enumerate(batch.schema) if _lacks_type(f.type)]
    if untyped:
        table_schema = con.sql(f"SELECT * FROM {table} LIMIT 0").to_arrow_table().schema
        for i in untyped:
            name = batch.schema.field(i).name
            if name in table_schema.names:
                batch = batch.set_column(i, name, batch.column(i).cast(table_schema.field(name).type))
    con.register("_incoming_rows", batch)
    try:
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _incoming_rows")
    finally:
        con.unregister("_incoming_rows")
    return len(rows)


_FEW_ROWS = 8
_PLAIN = (str, int, float, datetime, date)


def _plain(value: object) -> bool:
    """A value DuckDB binds as a parameter and casts to the column's type as the Arrow path would
    (no numpy scalars; no time zones, which the two paths would convert differently)."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return False
    if value is None or isinstance(value, _PLAIN):
        return True
    if isinstance(value, list):
        return all(v is None or (isinstance(v, _PLAIN) and not isinstance(v, datetime)) for v in value)
    return False


def _lacks_type(arrow_type: pa.DataType) -> bool:
    """NULL in every row, or lists that are all empty: Arrow could not tell the element type."""
    if pa.types.is_null(arrow_type):
        return True
    return pa.types.is_list(arrow_type) and _lacks_type(arrow_type.value_type)


def replace_rows(
    con: duckdb.DuckDBPyConnection,
    table: str,
    key_column: str,
    keys: Sequence[object],
    rows: Sequence[Mapping[str, object]],
) -> int:
    """Delete every row whose key is in ``keys`` and insert ``rows``, atomically."""
    return replace_tables(con, {table: rows}, key_column, keys)


def replace_tables(
    con: duckdb.DuckDBPyConnection,
    rows_by_table: Mapping[str, Sequence[Mapping[str, object]]],
    key_column: str,
    keys: Sequence[object],
) -> int:
    """`replace_rows` over several tables in one transaction: readers never see half an item.

    Columns are matched by name, so a dataclass turned into a dict maps onto the table.
    """
    with transaction(con):
        for table, rows in rows_by_table.items():
            delete_keys(con, table, key_column, keys)
            insert_rows(con, table, rows)
    return sum(len(rows) for rows in rows_by_table.values())


def delete_keys(con: duckdb.DuckDBPyConnection, table: str, key_column: str, keys: Sequence[object]) -> None:
    if keys:
        con.execute(f"DELETE FROM {table} WHERE {key_column} IN (SELECT unnest(?))", [list(keys)])
