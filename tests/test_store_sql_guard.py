"""`melodex sql` runs through read_only_query: every way of changing something is refused."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import duckdb
import pytest

from melodex_ml.bookkeeping import StageOutcome, record_stage
from melodex_ml.store import ForbiddenQuery, connect, read_only_query


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    with connect(home / "melodex.duckdb") as con:
        record_stage(con, StageOutcome("features", "b1", "ok", n_ok=3))
        predictions = home / "predictions"
        predictions.mkdir()
        (predictions / "b1.jsonl").write_text(json.dumps({"track_id": "t1", "top": "rock"}) + "\n")
        # The view the inference stage creates over the JSONL partitions.
        con.execute(f"CREATE VIEW genre_predictions AS SELECT * FROM read_json('{predictions}/*.jsonl')")
    return home


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run(home: Path, sql: str, **kwargs):
    return read_only_query(home / "melodex.duckdb", sql, readable_dirs=[home / "predictions"], **kwargs)


def test_queries_and_documented_views_work(home):
    result = run(home, "SELECT stage, n_ok FROM stage_runs")
    assert (result.columns, result.rows) == (["stage", "n_ok"], [("features", 3)])
    assert run(home, "SELECT track_id, top FROM genre_predictions").rows == [("t1", "rock")]
    assert run(home, "FROM audio_features").columns[:2] == ["track_id", "duration_ms"]
    for sql in ("DESCRIBE stage_runs", "SHOW TABLES", "SUMMARIZE stage_runs", "VALUES (1, 2)",
                "WITH x AS (SELECT 1 AS a) SELECT a FROM x", "EXPLAIN SELECT 1", "EXPLAIN ANALYZE SELECT 1",
                "SELECT 1; SELECT 2 AS two"):
        assert run(home, sql).columns, sql
    assert run(home, "SELECT 1; SELECT 2 AS two").rows == [(2,)]
    limited = run(home, "SELECT * FROM range(10)", limit=3)
    assert (len(limited.rows), limited.truncated) == (3, True)


ATTACKS = {
    "copy over the store": "COPY (SELECT 1) TO '{db}' (FORMAT csv)",
    "copy into predictions": "COPY (SELECT 1) TO '{home}/predictions/x.jsonl'",
    "explain analyze runs a copy": "EXPLAIN ANALYZE COPY (SELECT 1) TO '{home}/predictions/y.csv'",
    "export": "EXPORT DATABASE '{home}/dump'",
    "attach": "ATTACH '{home}/other.duckdb' AS other",
    "install": "INSTALL httpfs",
    "load": "LOAD httpfs",
    "set": "SET enable_external_access = true",
    "pragma": "PRAGMA enable_profiling",
    "call": "CALL checkpoint()",
    "delete": "DELETE FROM stage_runs",
    "drop": "DROP TABLE stage_runs",
    "create": "CREATE TABLE t AS SELECT 1",
    "update": "UPDATE stage_runs SET n_ok = 0",
    "a write after a query": "SELECT 1; DELETE FROM stage_runs",
}


@pytest.mark.parametrize("sql", ATTACKS.values(), ids=ATTACKS.keys())
def test_anything_but_a_query_is_refused_and_the_store_is_intact(home, sql):
    db = home / "melodex.duckdb"
    before = digest(db)
    with pytest.raises(ForbiddenQuery, match=r"^melodex sql only runs read-only queries .*; (this|statement \d) is "):
        run(home, sql.format(db=db, home=home))
    assert digest(db) == before
    assert sorted(p.name for p in (home / "predictions").iterdir()) == ["b1.jsonl"]
    assert not (home / "dump").exists() and not (home / "other.duckdb").exists()
    with connect(db, read_only=True) as con:
        assert con.execute("SELECT stage, n_ok FROM stage_runs").fetchall() == [("features", 3)]


def test_the_message_is_one_line_naming_the_statement(home):
    with pytest.raises(ForbiddenQuery) as refused:
        run(home, f"COPY (SELECT 1) TO '{home}/melodex.duckdb' (FORMAT csv)")
    assert "\n" not in str(refused.value) and str(refused.value).endswith("this is COPY")
    with pytest.raises(ForbiddenQuery, match="statement 2 is DELETE"):
        run(home, "SELECT 1; DELETE FROM stage_runs")
    with pytest.raises(ForbiddenQuery, match="empty"):
        run(home, "  ;  ")


@pytest.mark.parametrize(
    "sql",
    ["SELECT * FROM read_csv('/etc/passwd', sep = ':')", "SELECT * FROM read_text('/etc/hostname')",
     "SELECT * FROM glob('/etc/*')", "SELECT * FROM read_text('{home}/predictions/../mlflow.db')"],
)
def test_files_outside_the_readable_folders_cannot_be_read(home, sql):
    (home / "mlflow.db").write_text("not the predictions")
    with pytest.raises(duckdb.PermissionException, match="disabled by configuration"):
        run(home, sql.format(home=home))


def test_a_syntax_error_is_duckdbs_own(home):
    with pytest.raises(duckdb.ParserException):
        run(home, "SELEC 1")
