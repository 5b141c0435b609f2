"""What every stage shares: the tracks of a batch and the report a stage hands back."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import numpy as np

from melodex_ml.audio.decode import decode
from melodex_ml.bookkeeping import Failure, StageOutcome, printable, record_failures, record_stage, record_stage_start
from melodex_ml.settings import MelodexSettings
from melodex_ml.store import connect

R = TypeVar("R")


@dataclass(frozen=True)
class BatchTrack:
    track_id: str
    path: Path  # exact, for opening the file
    display_path: str  # valid UTF-8, for people and JSON


@dataclass
class StageReport:
    outcome: StageOutcome
    metadata: dict[str, object] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    # What the result holds, as a short hash: equal versions mean downstream has nothing new to read.
    data_version: str | None = None

    @property
    def skipped(self) -> bool:
        return self.outcome.status == "skipped"


def content_version(con: duckdb.DuckDBPyConnection, query: str) -> str:
    """MD5 of the rows ``query`` returns, in any order: a stable version of a table's content."""
    row = con.execute(
        f"SELECT md5(coalesce(string_agg(CAST(r AS VARCHAR), chr(10) ORDER BY CAST(r AS VARCHAR)), '')) FROM ({query}) r"
    ).fetchone()
    return str(row[0])


def batch_tracks(con: duckdb.DuckDBPyConnection, batch_id: str) -> list[BatchTrack]:
    """Live tracks whose latest batch is this one: a changed track belongs to its newest batch
    only, so re-running an older batch never produces a second result for it."""
    rows = con.execute(
        """
        SELECT t.track_id, t.path_bytes, t.path FROM track_batches b JOIN live_tracks t USING (track_id)
        WHERE b.batch_id = ?
          AND b.batch_id = (SELECT max(l.batch_id) FROM track_batches l WHERE l.track_id = b.track_id)
        ORDER BY t.track_id
        """,
        [batch_id],
    ).fetchall()
    # path_bytes holds the exact name; `path` shows U+FFFD where a name is not UTF-8.
    return [BatchTrack(track_id, Path(os.fsdecode(raw)), shown) for track_id, raw, shown in rows]


def load_batch(settings: MelodexSettings, batch_id: str) -> list[BatchTrack]:
    with connect(settings.duckdb_path, read_only=True) as con:
        return batch_tracks(con, batch_id)


def finish_stage(
    settings: MelodexSettings,
    outcome: StageOutcome,
    items: Sequence[str],
    failures: Sequence[Failure],
    *,
    run_id: str | None,
    con: duckdb.DuckDBPyConnection | None = None,
) -> None:
    """Record failures (replacing the stage's earlier ones for these items) and the outcome."""
    if con is None:
        with connect(settings.duckdb_path) as own:
            finish_stage(settings, outcome, items, failures, run_id=run_id, con=own)
        return
    record_failures(con, outcome.stage, items, failures, batch_id=outcome.batch_id or None, run_id=run_id)
    record_stage(con, outcome, run_id=run_id)


@contextmanager
def failure_recorded(settings: MelodexSettings, stage: str, batch_id: str, *, run_id: str | None) -> Iterator[None]:
    """A ``running`` row while the stage works (recovery marks it interrupted if its process dies),
    and a ``failed`` row when it raises (then the error propagates)."""
    with connect(settings.duckdb_path) as con:
        record_stage_start(con, stage, batch_id, run_id=run_id)
    try:
        yield
    except Exception as exc:
        detail = printable(f"{type(exc).__name__}: {exc}")
        try:
            finish_stage(settings, StageOutcome(stage, batch_id, "failed", detail), [], [], run_id=run_id)
        except Exception:  # the store itself may be what failed; the original error matters more
            pass
        raise


def records_failure(stage: str, *, partitioned: bool = True) -> Callable[[Callable[..., R]], Callable[..., R]]:
    """Decorate a stage function ``fn(settings, [batch_id,] ..., run_id=...)`` with failure_recorded."""

    def decorate(fn: Callable[..., R]) -> Callable[..., R]:
        @functools.wraps(fn)
        def run(settings: MelodexSettings, *args: Any, run_id: str | None = None, **kwargs: Any) -> R:
            batch_id = args[0] if partitioned else ""
            with failure_recorded(settings, stage, batch_id, run_id=run_id):
                return fn(settings, *args, run_id=run_id, **kwargs)

        return run

    return decorate


def skipped(stage: str, batch_id: str, reason: str, *, run_id: str | None, settings: MelodexSettings) -> StageReport:
    """A stage whose model is not available: recorded as skipped with the reason, never faked."""
    outcome = StageOutcome(stage, batch_id, "skipped", reason)
    finish_stage(settings, outcome, [], [], run_id=run_id)
    return StageReport(outcome, {"status": "skipped", "reason": reason})


def decode_samples(path: Path) -> tuple[np.ndarray, int]:
    """The ``load`` callable model stages take: one decode, (channels, n) float32 and its rate."""
    decoded = decode(path)
    return decoded.samples, decoded.sample_rate


def stage_counts(settings: MelodexSettings, stage: str, batch_id: str) -> tuple[int, int] | None:
    """(tracks done, tracks failed) of a stage's latest outcome on a batch, None if it never ran."""
    with connect(settings.duckdb_path, read_only=True) as con:
        row = con.execute(
            "SELECT n_ok, n_failed FROM stage_runs WHERE stage = ? AND batch_id = ?", [stage, batch_id]
        ).fetchone()
    return None if row is None else (int(row[0]), int(row[1]))


def duplicated_keys(settings: MelodexSettings, key_query: str) -> list[str]:
    """Keys that ``key_query`` (one column) returns more than once: a write that is not idempotent,
    or a view serving a track twice, leaves some."""
    with connect(settings.duckdb_path, read_only=True) as con:
        rows = con.execute(
            f"SELECT k FROM ({key_query}) AS q(k) GROUP BY k HAVING count(*) > 1 ORDER BY k"
        ).fetchall()
    return [str(row[0]) for row in rows]
