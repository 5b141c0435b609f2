"""Failures and stage outcomes, written where users can query them (tables in sql/ddl/000_meta.sql).

The store's records module: every stage records through these functions, inside the store's
transactions. A stage_runs row carries the process that wrote it (pid, host, started_at), so a
``running`` row whose process was killed can be recognised later (melodex_ml.store.recovery).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from melodex_ml.store import insert_rows, transaction
from melodex_ml.store.owners import Owner


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
    status: str  # ok | partial | skipped | failed | running (in progress, see record_stage_start)
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
    with transaction(con):
        if items:
            con.execute(
                "DELETE FROM failures WHERE stage = ? AND item IN (SELECT UNNEST(?))",
                [stage, [printable(item) for item in items]],
            )
        insert_rows(
            con,
            "failures",
            [
                {"stage": f.stage, "item": printable(f.item), "path": printable(f.path), "error_type": f.error_type,
                 "message": printable(f.message)[:4000], "batch_id": batch_id, "run_id": run_id}
                for f in failures
            ],
        )


def record_stage(con: duckdb.DuckDBPyConnection, outcome: StageOutcome, *, run_id: str | None = None) -> None:
    """Replace the stage's row for this batch with ``outcome``, stamped with this process.

    ``started_at`` is kept from a ``running`` row this same process wrote (progress of one
    stage run); otherwise the stage starts now.
    """
    owner = Owner.current()
    now = datetime.now(UTC).replace(tzinfo=None)
    with transaction(con):
        started = con.execute(
            "SELECT started_at FROM stage_runs WHERE stage = ? AND batch_id = ? AND status = 'running' "
            "AND pid = ? AND host = ?",
            [outcome.stage, outcome.batch_id, owner.pid, owner.host],
        ).fetchone()
        con.execute("DELETE FROM stage_runs WHERE stage = ? AND batch_id = ?", [outcome.stage, outcome.batch_id])
        insert_rows(
            con,
            "stage_runs",
            [{**asdict(outcome), "run_id": run_id, "started_at": started[0] if started and started[0] else now,
              "pid": owner.pid, "host": owner.host, "finished_at": now}],
        )


def record_stage_start(
    con: duckdb.DuckDBPyConnection, stage: str, batch_id: str, *, run_id: str | None = None
) -> None:
    """A ``running`` row for a stage that begins: if its process dies, recovery marks it interrupted."""
    record_stage(con, StageOutcome(stage, batch_id, "running"), run_id=run_id)
