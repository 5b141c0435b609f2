"""Ad-hoc SQL for people (``melodex sql``) that can never change anything.

Two independent walls:

1. DuckDB's own parser classifies every statement before any runs (``duckdb.extract_statements``):
   only queries pass -- SELECT in all its forms (WITH, FROM-first, VALUES, DESCRIBE, SHOW,
   SUMMARIZE) and EXPLAIN [ANALYZE] of such a query. COPY, EXPORT, ATTACH, INSTALL/LOAD, SET,
   PRAGMA, CALL, CREATE, INSERT, PIVOT (it creates types), ... are refused, and so is the whole
   input when any one statement is, before any of it runs.
2. The query runs on a read-only connection with external access off and the configuration
   locked: the only files it can open are the store itself and the folders given as
   ``readable_dirs`` (the JSONL predictions behind view ``genre_predictions``), so neither
   ``COPY ... TO`` nor ``read_csv('/etc/passwd')`` gets anywhere even past the parser.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from melodex_ml.store.connection import connect
from melodex_ml.store.errors import ForbiddenQuery

ALLOWED = "SELECT, WITH, FROM, VALUES, DESCRIBE, SHOW, SUMMARIZE and EXPLAIN"
# No extension is fetched or loaded behind the query's back.
_CONFIG = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    types: list[str]  # DuckDB type names, e.g. DOUBLE, VARCHAR[]
    rows: list[tuple]
    truncated: bool  # more rows existed than ``limit``


def check_read_only(sql: str) -> list[str]:
    """The statements of ``sql`` if every one is a read-only query; else ForbiddenQuery.

    A syntax error raises DuckDB's own ParserException.
    """
    statements = duckdb.extract_statements(sql)
    if not statements:
        raise ForbiddenQuery("nothing to run: the query is empty")
    for number, statement in enumerate(statements, 1):
        kind = _read_only_kind(statement)
        if kind is not None:
            where = f"statement {number} is" if len(statements) > 1 else "this is"
            raise ForbiddenQuery(f"melodex sql only runs read-only queries ({ALLOWED}); {where} {kind}")
    return [statement.query for statement in statements]


def _read_only_kind(statement) -> str | None:
    """None for a read-only query; else the kind of statement it is, for the message."""
    kind = statement.type
    if kind == duckdb.StatementType.SELECT:
        return None
    if kind == duckdb.StatementType.EXPLAIN:
        # EXPLAIN ANALYZE runs what it explains, so what it explains must pass too.
        explained = _explained(statement.query)
        inner = duckdb.extract_statements(explained) if explained else []
        if len(inner) == 1 and inner[0].type == duckdb.StatementType.SELECT:
            return None
        return "EXPLAIN of something other than a query"
    return kind.name.replace("_", " ")


def _explained(query: str) -> str | None:
    """The statement after ``EXPLAIN [ANALYZE]``, cut where DuckDB's tokenizer says it starts."""
    tokens = duckdb.tokenize(query)
    words = [
        (start, query[start : tokens[i + 1][0] if i + 1 < len(tokens) else len(query)].strip().upper())
        for i, (start, _) in enumerate(tokens)
    ]
    position = 1 if words and words[0][1] == "EXPLAIN" else None
    if position is not None and position < len(words) and words[position][1] == "ANALYZE":
        position += 1
    if position is None or position >= len(words):
        return None
    return query[words[position][0] :]


def read_only_query(
    path: Path | str,
    sql: str,
    *,
    readable_dirs: Sequence[Path | str] = (),
    limit: int | None = None,
    timeout_s: float = 60.0,
) -> QueryResult:
    """Run ``sql`` (one or more read-only statements) on the store; the last one's rows come back.

    Raises ForbiddenQuery for anything that is not a read-only query, duckdb.Error for a query
    DuckDB rejects (syntax, unknown table, a file outside ``readable_dirs``), FileNotFoundError
    when there is no store yet, StoreBusy while a writer holds the store past ``timeout_s``.
    """
    statements = check_read_only(sql)
    with connect(path, read_only=True, timeout_s=timeout_s, config=_CONFIG) as con:
        allowed = [str(Path(d).expanduser().resolve()).rstrip("/") + "/" for d in readable_dirs]
        con.execute("SET allowed_directories = ?", [allowed])
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        for statement in statements[:-1]:
            con.execute(statement)
        result = con.execute(statements[-1])
        if result.description is None:
            return QueryResult([], [], [], False)
        rows = result.fetchall() if limit is None else result.fetchmany(limit + 1)
        truncated = limit is not None and len(rows) > limit
        return QueryResult(
            columns=[d[0] for d in result.description],
            types=[str(d[1]) for d in result.description],
            rows=rows[:limit] if truncated else rows,
            truncated=truncated,
        )
