"""Crash hygiene, run at the start of a run: what a killed process left behind is cleaned up.

A process killed mid-stage (kill -9, OOM killer, power loss) leaves a ``running`` row in
``stage_runs``, maybe a RUNNING MLflow run, and maybe a temporary file of an atomic write. None
of them is harmful to data (writes are transactional or renamed into place), but they lie to
people and pile up. Each carries its writer's host and pid (:mod:`.owners`); what belongs to a
process that is provably gone is marked failed ("interrupted") or removed. What cannot be
decided (another host's) is left alone, and what carries no owner (made by an older Melodex) is
treated as orphaned only once it is older than ``grace_s``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from melodex_ml.settings import MelodexSettings
from melodex_ml.store.connection import connect
from melodex_ml.store.files import temp_owner
from melodex_ml.store.owners import Owner
from melodex_ml.store.writes import transaction

log = logging.getLogger(__name__)

DEFAULT_GRACE_S = 3600.0


@dataclass(frozen=True)
class InterruptedStage:
    stage: str
    batch_id: str
    detail: str


@dataclass(frozen=True)
class RecoveryReport:
    interrupted_stages: list[InterruptedStage] = field(default_factory=list)
    failed_mlflow_runs: list[str] = field(default_factory=list)
    removed_temp_files: list[Path] = field(default_factory=list)
    champion_version: str | None = None

    def summary(self) -> str:
        """One line for a log or the terminal; empty when there was nothing to clean up."""
        parts = []
        if self.interrupted_stages:
            parts.append(f"{len(self.interrupted_stages)} interrupted stage run(s) marked failed")
        if self.failed_mlflow_runs:
            parts.append(f"{len(self.failed_mlflow_runs)} orphaned MLflow run(s) marked FAILED")
        if self.removed_temp_files:
            parts.append(f"{len(self.removed_temp_files)} orphaned temporary file(s) removed")
        return "; ".join(parts)


def fail_interrupted_stage_runs(
    con: duckdb.DuckDBPyConnection, *, grace_s: float = DEFAULT_GRACE_S, now: datetime | None = None
) -> list[InterruptedStage]:
    """Mark ``running`` stage rows whose process is gone as ``failed``, detail "interrupted: ..."."""
    now = now or datetime.now(UTC).replace(tzinfo=None)
    rows = con.execute(
        "SELECT stage, batch_id, pid, host, coalesce(started_at, finished_at), finished_at, detail "
        "FROM stage_runs WHERE status = 'running'"
    ).fetchall()
    interrupted = []
    for stage, batch_id, pid, host, started_at, last_progress, detail in rows:
        if pid is not None and host is not None:
            if not Owner(pid, host).is_gone(started_at):
                continue
            why = f"interrupted: process {pid} on {host} ended while the stage ran (started {started_at:%Y-%m-%d %H:%M:%S} UTC)"
        elif now - last_progress > timedelta(seconds=grace_s):
            why = f"interrupted: no progress since {last_progress:%Y-%m-%d %H:%M:%S} UTC"
        else:
            continue
        interrupted.append(InterruptedStage(stage, batch_id, why + (f"; last progress: {detail}" if detail else "")))
    if interrupted:
        with transaction(con):
            for row in interrupted:
                con.execute(
                    "UPDATE stage_runs SET status = 'failed', detail = ?, finished_at = ? "
                    "WHERE stage = ? AND batch_id = ? AND status = 'running'",
                    [row.detail, now, row.stage, row.batch_id],
                )
        log.warning("marked %d interrupted stage run(s) failed", len(interrupted))
    return interrupted


def remove_orphaned_temp_files(folders: list[Path], *, grace_s: float = DEFAULT_GRACE_S) -> list[Path]:
    """Delete ``*.tmp`` files under ``folders`` whose writer is gone; returns what was removed."""
    removed = []
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in folder.rglob("*.tmp"):
            try:
                modified = path.stat().st_mtime
            except FileNotFoundError:
                continue  # its writer finished (renamed it) while we looked
            owner = temp_owner(path)
            gone = owner.is_gone(modified) if owner is not None else time.time() - modified > grace_s
            if gone and path.is_file():
                path.unlink(missing_ok=True)
                removed.append(path)
    if removed:
        log.warning("removed %d orphaned temporary file(s)", len(removed))
    return removed


def data_folders(settings: MelodexSettings) -> list[Path]:
    """Where atomic writers leave temporary files: predictions, embeddings, stems."""
    return [settings.predictions_dir, settings.embeddings_dir, settings.stems_dir]


def recover_interrupted(
    settings: MelodexSettings, *, grace_s: float = DEFAULT_GRACE_S, mlflow: bool = True
) -> RecoveryReport:
    """Everything a run should do first: stage rows, MLflow runs and the champion, temporary files.

    Cheap when there is nothing to do (one store read, one MLflow query, a walk of three folders);
    a store that does not exist yet is not created.
    """
    interrupted: list[InterruptedStage] = []
    if settings.duckdb_path.exists():
        with connect(settings.duckdb_path) as con:
            interrupted = fail_interrupted_stage_runs(con, grace_s=grace_s)
    failed_runs: list[str] = []
    champion = None
    if mlflow and settings.mlflow_store_exists:
        from melodex_ml import registry, tracking  # MLflow is slow to import; only when there is a store

        failed_runs = tracking.fail_orphaned_runs(settings)
        champion = registry.repair_champion(settings)
    removed = remove_orphaned_temp_files(data_folders(settings), grace_s=grace_s)
    return RecoveryReport(interrupted, failed_runs, removed, champion)
