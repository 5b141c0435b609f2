"""The command line under concurrency, crashes and a missing mount: two `melodex run` at once on a
fresh MELODEX_HOME, a real kill -9 in the middle of features, and a library root that is empty."""

from __future__ import annotations

import os
import shutil
import signal
import time

import duckdb
import pytest
from test_cli_support import melodex, query, start_melodex, write_tones

from melodex_ml.demo import generate_demo_library

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_library(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo") / "library"
    generate_demo_library(root, n_tracks=2, duration_range=(20.0, 21.0))
    return root


def copy_of(library, tmp_path):
    return shutil.copytree(library, tmp_path / "library")


def no_duplicates(home) -> None:
    assert query(home, "SELECT count(*), count(DISTINCT track_id) FROM features") == [(2, 2)]
    segments = query(home, "SELECT count(*), count(DISTINCT (track_id, segment_index)) FROM segment_features")
    assert segments[0][0] == segments[0][1] > 0
    assert query(home, "SELECT count(*) FROM stage_runs WHERE status = 'running'") == [(0,)]


def test_two_runs_at_once_on_a_fresh_home_and_a_later_run(demo_library, tmp_path):
    library, home = copy_of(demo_library, tmp_path), tmp_path / "home"
    runs = [start_melodex("run", home=home, MELODEX_LIBRARY_ROOTS=str(library)) for _ in range(2)]
    outputs = [run.communicate(timeout=1200) for run in runs]
    for run, (stdout, stderr) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, stdout.decode() + stderr.decode()
        assert b"Traceback" not in stderr
    later = melodex("run", home=home, MELODEX_LIBRARY_ROOTS=str(library))
    assert later.returncode == 0, later.stdout + later.stderr
    no_duplicates(home)


def features_running(home) -> bool:
    try:
        rows = query(home, "SELECT count(*) FROM stage_runs WHERE stage = 'features' AND status = 'running'")
    except (duckdb.Error, FileNotFoundError):
        return False  # not created yet, or a writer holds it this instant
    return rows[0][0] > 0


def test_kill_9_during_features_then_run_again(demo_library, tmp_path):
    import dagster as dg

    library, home = copy_of(demo_library, tmp_path), tmp_path / "home"
    first = start_melodex("run", home=home, MELODEX_LIBRARY_ROOTS=str(library))
    deadline = time.monotonic() + 600
    while not features_running(home):
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline, "features never started"
        time.sleep(0.2)
    os.kill(first.pid, signal.SIGKILL)
    first.communicate()
    assert first.returncode == -signal.SIGKILL
    assert features_running(home)  # killed mid-features: its row says running

    def started_runs() -> list[str]:
        with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
            return [r.run_id for r in instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))]

    killed = started_runs()
    assert len(killed) == 1

    again = melodex("run", home=home, MELODEX_LIBRARY_ROOTS=str(library))
    assert again.returncode == 0, again.stdout + again.stderr
    assert "recovered" in again.stdout
    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        assert instance.get_run_by_id(killed[0]).status == dg.DagsterRunStatus.FAILURE
    assert started_runs() == []
    assert sorted(p.name for p in home.rglob("*.tmp")) == []
    no_duplicates(home)
    # the interrupted run was executed again (once, as the daemon's run retries would) and completed the batch
    assert "1 of them run again" in again.stdout
    assert query(home, "SELECT status FROM stage_runs WHERE stage = 'features'") == [("ok",)]
    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        retried = instance.get_runs(dg.RunsFilter(tags={"dagster/parent_run_id": killed[0]}))
    assert [run.status for run in retried] == [dg.DagsterRunStatus.SUCCESS]


def test_an_empty_root_retires_nothing(tmp_path):
    """A NAS that did not mount: the folder is there, empty; the tracks under it stay live."""
    library, home, away = tmp_path / "nas", tmp_path / "home", tmp_path / "away"
    write_tones(library / "album", 3)
    first = melodex("scan", home=home, MELODEX_LIBRARY_ROOTS=str(library))
    assert first.returncode == 0, first.stderr
    assert query(home, "SELECT count(*) FROM live_tracks") == [(3,)]
    shutil.move(library / "album", away)  # the mount point stays, empty
    assert library.is_dir() and not any(library.iterdir())

    empty = melodex("scan", home=home, MELODEX_LIBRARY_ROOTS=str(library))
    assert empty.returncode == 0, empty.stdout + empty.stderr
    assert query(home, "SELECT count(*) FROM live_tracks") == [(3,)]
    assert query(home, "SELECT count(*) FROM tracks WHERE retired_at IS NOT NULL") == [(0,)]
    assert "EmptyRoot" in empty.stdout and str(library) in empty.stdout
    status = melodex("status", home=home)
    assert status.returncode == 0 and "EmptyRoot" in status.stdout
