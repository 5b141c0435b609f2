import multiprocessing as mp
import time

import duckdb
import pytest

from melodex_ml.bookkeeping import Failure, StageOutcome, record_failures, record_stage
from melodex_ml.store import StoreBusy, connect, replace_rows


def test_replace_rows_is_idempotent(tmp_path):
    path = tmp_path / "s.duckdb"
    rows = [dict(stage="features", item=f"t{i}", error_type="E", message="m") for i in range(3)]
    with connect(path) as con:
        for _ in range(2):
            replace_rows(con, "failures", "item", ["t0", "t1", "t2"], rows)
        assert con.execute("SELECT count(*) FROM failures").fetchone()[0] == 3


def test_a_failed_insert_rolls_back_the_delete(tmp_path):
    with connect(tmp_path / "s.duckdb") as con:
        replace_rows(con, "failures", "item", ["a"], [dict(stage="s", item="a", error_type="E", message="m")])
        with pytest.raises(duckdb.Error):
            # message is NOT NULL: the insert fails after the delete ran
            replace_rows(con, "failures", "item", ["a"], [dict(stage="s", item="a", error_type="E", message=None)])
        assert con.execute("SELECT message FROM failures").fetchall() == [("m",)]


def test_failures_are_replaced_per_stage_and_item(tmp_path):
    with connect(tmp_path / "s.duckdb") as con:
        record_failures(con, "features", ["a", "b"], [Failure("features", "a", "E", "boom")])
        record_failures(con, "stems", ["a"], [Failure("stems", "a", "E", "other stage")])
        # a retry of the features stage where "a" now succeeds clears only its features failure
        record_failures(con, "features", ["a", "b"], [])
        assert con.execute("SELECT stage, item FROM failures").fetchall() == [("stems", "a")]
        record_stage(con, StageOutcome.of("features", "b1", n_ok=2, n_failed=1))
        record_stage(con, StageOutcome.of("features", "b1", n_ok=3, n_failed=0))
        assert con.execute("SELECT status, n_ok FROM stage_runs").fetchall() == [("ok", 3)]


def _hold_lock(path: str, seconds: float, ready) -> None:
    con = duckdb.connect(path)
    ready.set()
    time.sleep(seconds)
    con.close()


def test_writer_waits_for_another_process_then_proceeds(tmp_path):
    path = str(tmp_path / "s.duckdb")
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(path, 1.5, ready))
    holder.start()
    assert ready.wait(30)
    start = time.monotonic()
    with connect(path) as con:
        waited = time.monotonic() - start
        assert con.execute("SELECT 42").fetchone() == (42,)
    holder.join()
    assert waited > 0.3


def test_writer_gives_up_with_a_clear_error(tmp_path):
    path = str(tmp_path / "s.duckdb")
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(path, 3.0, ready))
    holder.start()
    assert ready.wait(30)
    with pytest.raises(StoreBusy, match="locked by another process"):
        with connect(path, timeout_s=0.5):
            pass
    holder.join()


def test_read_only_on_a_missing_store_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="melodex run"):
        with connect(tmp_path / "none.duckdb", read_only=True):
            pass


# --------------------------------------------------------------------------- migrations

from melodex_ml.store.migrations import applied_versions, migrations, sql_root  # noqa: E402


def test_migrations_are_the_numbered_files_of_the_top_level_sql_folder():
    from pathlib import Path

    checkout = Path(__file__).resolve().parent.parent / "sql" / "ddl"
    on_disk = sorted(int(p.name.split("_")[0]) for p in checkout.glob("*.sql"))
    assert [m.version for m in migrations()] == on_disk
    # The editable install has no packaged copy: the checkout's sql/ is the one source.
    assert Path(str(sql_root())).resolve() == checkout.parent


def test_a_writer_applies_each_migration_once_and_records_it(tmp_path):
    path = tmp_path / "s.duckdb"
    with connect(path) as con:
        recorded = con.execute("SELECT version, name, checksum FROM schema_version ORDER BY version").fetchall()
        assert [(v, n, c) for v, n, c in recorded] == [(m.version, m.name, m.checksum) for m in migrations()]
        # A sentinel: if a later open re-ran the DDL, this view would come back.
        con.execute("DROP VIEW duplicate_audio")
    for read_only in (False, True):
        with connect(path, read_only=read_only) as con:
            views = {r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
            assert "duplicate_audio" not in views and "live_tracks" in views
            assert con.execute("SELECT count(*) FROM schema_version").fetchone()[0] == len(migrations())


def test_a_store_made_before_schema_version_adopts_the_migrations_and_keeps_its_rows(tmp_path):
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    for m in migrations():
        if m.version <= 30:  # what every writer ran on each open before migrations were numbered
            con.execute(m.sql)
    con.execute("INSERT INTO stage_runs (stage, batch_id, status) VALUES ('features', 'b1', 'ok')")
    con.close()
    with connect(path) as con:
        assert set(applied_versions(con)) == {m.version for m in migrations()}
        assert con.execute("SELECT stage, status, pid FROM stage_runs").fetchall() == [("features", "ok", None)]


def _first_open(path: str, barrier, tag: str) -> None:
    barrier.wait(120)  # both interpreters have imported duckdb: now at once
    with connect(path) as con:
        record_stage(con, StageOutcome(tag, "", "ok"))


def test_two_processes_opening_a_fresh_store_at_once_both_succeed(tmp_path):
    path = str(tmp_path / "fresh.duckdb")
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_first_open, args=(path, barrier, f"p{i}")) for i in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    with connect(path, read_only=True) as con:
        versions = [r[0] for r in con.execute("SELECT version FROM schema_version ORDER BY version").fetchall()]
        assert versions == [m.version for m in migrations()]  # each exactly once
        assert sorted(r[0] for r in con.execute("SELECT stage FROM stage_runs").fetchall()) == ["p0", "p1"]


def _hold_reader(path: str, seconds: float, ready) -> None:
    con = duckdb.connect(path, read_only=True)
    ready.set()
    time.sleep(seconds)
    con.close()


def test_readers_share_the_file_with_other_readers(tmp_path):
    path = tmp_path / "s.duckdb"
    with connect(path):
        pass
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    holder = ctx.Process(target=_hold_reader, args=(str(path), 3.0, ready))
    holder.start()
    assert ready.wait(30)
    # A reader takes a shared lock only: another reader gets in at once, a writer has to wait.
    with connect(path, read_only=True, timeout_s=0.5) as con:
        assert con.execute("SELECT count(*) FROM schema_version").fetchone()[0] == len(migrations())
    with pytest.raises(StoreBusy):
        with connect(path, timeout_s=0.5):
            pass
    holder.join()


def test_a_reader_inside_a_process_that_writes_reads_through_its_database(tmp_path):
    path = tmp_path / "s.duckdb"
    with connect(path) as writer:
        record_stage(writer, StageOutcome("features", "b1", "ok"))
        with connect(path, read_only=True) as reader:
            assert reader.execute("SELECT stage FROM stage_runs").fetchall() == [("features",)]


def test_stage_rows_name_their_process_and_keep_the_start_of_a_running_stage(tmp_path):
    import os

    from melodex_ml.store.owners import host_name

    with connect(tmp_path / "s.duckdb") as con:
        record_stage(con, StageOutcome("features", "b1", "running", n_ok=25))
        started = con.execute("SELECT started_at FROM stage_runs").fetchone()[0]
        time.sleep(0.05)
        record_stage(con, StageOutcome.of("features", "b1", n_ok=50, n_failed=0))
        row = con.execute("SELECT status, n_ok, started_at, finished_at, pid, host FROM stage_runs").fetchone()
    assert row[:3] == ("ok", 50, started)
    assert row[3] > started
    assert (row[4], row[5]) == (os.getpid(), host_name())


def test_a_migration_missing_from_a_store_is_applied_at_the_next_writer_open(tmp_path):
    path = tmp_path / "s.duckdb"
    with connect(path) as con:  # as a store looks that was made before migration 051 existed
        con.execute("DROP VIEW audio_features")
        con.execute("DELETE FROM schema_version WHERE version = 51")
    with connect(path, read_only=True) as con:  # readers never migrate
        assert 51 not in applied_versions(con)
    with connect(path) as con:
        assert 51 in applied_versions(con)
        assert con.execute("SELECT count(*) FROM audio_features").fetchone() == (0,)
