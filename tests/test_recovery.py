"""Crash hygiene: what a process killed with SIGKILL left behind is cleaned up by the next run, and
nothing of a process that still works is touched."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from melodex_ml import tracking
from melodex_ml.bookkeeping import StageOutcome, record_stage
from melodex_ml.settings import MelodexSettings
from melodex_ml.store import connect
from melodex_ml.store.owners import host_name
from melodex_ml.store.recovery import recover_interrupted, remove_orphaned_temp_files

CHILD = Path(__file__).resolve().parent / "crash_child.py"


@pytest.fixture
def settings(tmp_path, monkeypatch) -> MelodexSettings:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return MelodexSettings(home=tmp_path / "home")


def child(mode: str, settings: MelodexSettings) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.Popen([sys.executable, str(CHILD), mode, str(settings.home)], env=env)


def wait_for(path: Path, process: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, f"child exited early with {process.returncode}"
        assert time.monotonic() < deadline, "child never got there"
        time.sleep(0.1)


def stage_row(settings: MelodexSettings) -> tuple:
    with connect(settings.duckdb_path, read_only=True) as con:
        return con.execute("SELECT status, detail, pid FROM stage_runs WHERE stage = 'inference'").fetchone()


def mlflow_statuses(settings: MelodexSettings) -> dict[str, str]:
    from mlflow import MlflowClient

    experiment = tracking.use_store(settings)
    return {r.info.run_name: r.info.status for r in MlflowClient().search_runs([experiment])}


def test_a_killed_run_is_marked_interrupted_and_its_temporary_file_removed(settings):
    settings.predictions_dir.mkdir(parents=True)
    target = settings.predictions_dir / "b1.jsonl"
    target.write_text('{"track_id": "old"}\n')
    process = child("predict", settings)
    try:
        wait_for(settings.home / "ready", process)
        temporary = [p.name for p in settings.predictions_dir.glob(".*.tmp")]
        assert temporary == [f".b1.jsonl.{host_name()}-{process.pid}.tmp"]

        # While the writer lives, nothing of it is touched.
        alive = recover_interrupted(settings)
        assert alive.summary() == ""
        assert stage_row(settings)[:1] == ("running",)
        assert mlflow_statuses(settings) == {"genre-predictions": "RUNNING"}
        assert [p.name for p in settings.predictions_dir.glob(".*.tmp")] == temporary
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(30)
    assert process.returncode == -signal.SIGKILL

    report = recover_interrupted(settings)
    status, detail, pid = stage_row(settings)
    assert (status, pid) == ("failed", process.pid)
    assert detail.startswith(f"interrupted: process {process.pid} on {host_name()} ended while the stage ran")
    assert mlflow_statuses(settings) == {"genre-predictions": "FAILED"}
    assert [r.stage for r in report.interrupted_stages] == ["inference"] and len(report.failed_mlflow_runs) == 1
    assert [p.name for p in report.removed_temp_files] == temporary
    assert sorted(p.name for p in settings.predictions_dir.iterdir()) == ["b1.jsonl"]
    assert target.read_text() == '{"track_id": "old"}\n'  # the old partition, never half a new one

    assert recover_interrupted(settings).summary() == ""  # nothing left to do


def test_a_crash_between_registering_and_moving_the_alias_is_repaired(settings, monkeypatch):
    from genre_fixtures import blob_library, taxonomy_of

    from melodex_ml import experiments, registry
    from melodex_ml.training.evaluation_split import make_evaluation_split
    from melodex_ml.training.probes import train_logistic_probe

    weak_library = blob_library(separation=0.0, artists_per_genre=4)  # the same tracks, noise vectors
    taxonomy = taxonomy_of(weak_library)
    weak = train_logistic_probe(weak_library.vectors, taxonomy, make_evaluation_split(taxonomy))
    with tracking.start_run(settings, "weak"):
        experiments.log_candidate(weak, settings)
    assert registry.promote_champion(settings).champion == "1"

    process = child("register", settings)
    process.wait(600)
    assert process.returncode == -signal.SIGKILL
    assert registry.champion_score(settings).version == "1"  # v2 is registered but was never judged

    report = recover_interrupted(settings)
    assert report.champion_version == "2" == registry.champion_score(settings).version
    # the candidate's own run had finished: only the choice among candidates was missed
    assert mlflow_statuses(settings) == {"weak": "FINISHED", "probe-logreg:blobs:segment": "FINISHED"}
    assert registry.repair_champion(settings) == "2"  # judged once: nothing moves again


def test_unowned_temporary_files_go_only_once_they_are_old(tmp_path):
    fresh, stale = tmp_path / "a.jsonl.tmp", tmp_path / "b.h5.tmp"
    for path in (fresh, stale):
        path.write_text("x")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    assert remove_orphaned_temp_files([tmp_path], grace_s=3600) == [stale]
    assert fresh.exists()


def test_a_running_row_without_an_owner_is_interrupted_only_once_it_is_old(tmp_path):
    from datetime import UTC, datetime, timedelta

    from melodex_ml.store.recovery import fail_interrupted_stage_runs

    with connect(tmp_path / "s.duckdb") as con:
        record_stage(con, StageOutcome("features", "old", "running", "25 of 500 tracks"))
        record_stage(con, StageOutcome("features", "new", "running"))
        # Rows written before stage_runs named their process carry no pid.
        con.execute("UPDATE stage_runs SET pid = NULL, host = NULL")
        con.execute("UPDATE stage_runs SET finished_at = finished_at - INTERVAL 2 HOUR WHERE batch_id = 'old'")
        now = datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=1)
        interrupted = fail_interrupted_stage_runs(con, grace_s=3600, now=now)
        assert [(r.stage, r.batch_id) for r in interrupted] == [("features", "old")]
        assert interrupted[0].detail.endswith("; last progress: 25 of 500 tracks")
        assert con.execute("SELECT batch_id, status FROM stage_runs ORDER BY ALL").fetchall() == [
            ("new", "running"), ("old", "failed")
        ]
