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
