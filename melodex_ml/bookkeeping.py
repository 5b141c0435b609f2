"""Failures and stage outcomes, written where users can query them (tables in sql/ddl/000_meta.sql)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb


def printable(text: str | None) -> str | None:
    """Text DuckDB and JSON accept: undecodable bytes of file names (surrogates) become U+FFFD."""
    if text is None:
        return None
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


@dataclass(frozen=True)
class Failure:
    """One item a stage could not process; the rest of its batch goes on."""

    stage: str
    item: str
    error_type: str
    message: str
    path: str | None = None

    @classmethod
    def from_exception(cls, stage: str, item: str, exc: BaseException, path: Path | str | None = None) -> Failure:
        return cls(stage, item, type(exc).__name__, str(exc) or repr(exc), None if path is None else str(path))


@dataclass(frozen=True)
class StageOutcome:
    stage: str
    batch_id: str
    status: str  # ok | partial | skipped | failed
    detail: str | None = None
    n_ok: int = 0
    n_failed: int = 0

    @classmethod
    def of(cls, stage: str, batch_id: str, n_ok: int, n_failed: int, detail: str | None = None) -> StageOutcome:
        status = "ok" if n_failed == 0 else ("partial" if n_ok else "failed")
        return cls(stage, batch_id, status, detail, n_ok, n_failed)


def record_failures(
    con: duckdb.DuckDBPyConnection,
    stage: str,
    items: Sequence[str],
    failures: Sequence[Failure],
    *,
    batch_id: str | None = None,
    run_id: str | None = None,
) -> None:
    """Replace the stage's failures for ``items``: a retry that succeeds clears the old failure."""
    con.execute("BEGIN TRANSACTION")
    try:
        if items:
            con.execute(
                "DELETE FROM failures WHERE stage = ? AND item IN (SELECT UNNEST(?))",
                [stage, [printable(item) for item in items]],
            )
        if failures:
            con.executemany(
                "INSERT INTO failures (stage, item, path, error_type, message, batch_id, run_id) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    [f.stage, printable(f.item), printable(f.path), f.error_type, printable(f.message)[:4000], batch_id, run_id]
                    for f in failures
                ],
            )
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise


def record_stage(con: duckdb.DuckDBPyConnection, outcome: StageOutcome, *, run_id: str | None = None) -> None:
    row = asdict(outcome)
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("DELETE FROM stage_runs WHERE stage = ? AND batch_id = ?", [outcome.stage, outcome.batch_id])
        con.execute(
            "INSERT INTO stage_runs (stage, batch_id, status, detail, n_ok, n_failed, run_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [row["stage"], row["batch_id"], row["status"], row["detail"], row["n_ok"], row["n_failed"], run_id],
        )
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
