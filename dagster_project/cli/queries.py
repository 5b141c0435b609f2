"""`melodex sql` and `melodex status`, and the results printed after a run: reading, never writing."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from dagster_project.cli.errors import USAGE
from dagster_project.cli.tables import Rows, print_rows
from dagster_project.cli.terminal import console, fail, line, say
from melodex_ml.settings import MelodexSettings

STAGE_ORDER = ["catalog", "stems", "features", "embeddings", "models", "inference"]


def sql(settings: MelodexSettings, query: str, *, fmt: str, limit: int, vertical: bool | None) -> int:
    """Run a read-only query (melodex_ml.store.readonly says what passes) and print its rows."""
    import duckdb

    from melodex_ml.store import read_only_query

    try:
        result = read_only_query(
            settings.duckdb_path, query, readable_dirs=[settings.predictions_dir], limit=limit or None
        )
    except duckdb.Error as exc:
        fail(f"SQL error: {duckdb_message(exc)}")
        return USAGE
    if not result.columns:
        return 0
    rows = Rows(result.columns, result.rows, truncated=result.truncated, null_reasons=reasons_for(query))
    print_rows(rows, fmt=fmt, vertical=vertical)
    return 0


def duckdb_message(exc: Exception) -> str:
    """DuckDB's message on one line: the error and its hint, without the quoted query and caret."""
    kept = []
    for text in str(exc).splitlines():
        if text.startswith("LINE "):
            break
        if text.strip():
            kept.append(text.strip())
    return " ".join(kept)


def reasons_for(query: str) -> dict[str, str]:
    """Documented NULL reasons of the views the query reads (nothing if DuckDB cannot tell which)."""
    import duckdb

    from dagster_project.cli.view_docs import null_reasons_for

    try:
        tables = duckdb.get_table_names(query)
    except duckdb.Error:
        return {}
    return null_reasons_for(set(tables))


def status(settings: MelodexSettings, *, failures: int) -> int:
    from dagster_project.definitions import build_definitions
    from dagster_project.instance import ensure_instance
    from melodex_ml.store import connect

    instance = ensure_instance(settings)
    defs = build_definitions(settings)
    partitions = set(instance.get_dynamic_partitions("scan_batches"))
    rows = []
    specs = sorted(
        defs.resolve_all_asset_specs(), key=lambda s: (STAGE_ORDER.index(s.group_name), s.key.to_user_string())
    )
    for spec in specs:
        record = instance.get_latest_materialization_event(spec.key)
        when = record.timestamp if record else None
        done = instance.get_materialized_partitions(spec.key) if spec.partitions_def else None
        rows.append([
            spec.group_name,
            spec.key.to_user_string(),
            "never" if when is None else datetime.fromtimestamp(when).isoformat(sep=" ", timespec="seconds"),
            None if done is None else f"{len(done & partitions)}/{len(partitions)} batches",
            latest_skip(instance, spec.key, after=when),
        ])
    columns = ["group", "asset", "last materialized", "partitions", "skipped because"]
    # Reasons are sentences: status wraps them in the table rather than switching to one field per line.
    print_rows(Rows(columns, rows, title="assets"), vertical=False)
    if not settings.duckdb_path.exists():
        return 0
    with connect(settings.duckdb_path, read_only=True) as con:
        show_query(
            con, "stages",
            "SELECT stage, status, count(*) AS batches, sum(n_ok) AS ok, sum(n_failed) AS failed, "
            "strftime(max(finished_at), '%Y-%m-%d %H:%M:%S') AS last, "
            "CASE WHEN status IN ('skipped', 'failed') THEN arg_max(detail, finished_at) END AS reason "
            "FROM stage_runs GROUP BY stage, status ORDER BY ALL",
        )
        show_query(
            con, "latest failures",
            "SELECT stage, item, error_type, message, strftime(failed_at, '%Y-%m-%d %H:%M:%S') AS failed_at "
            "FROM failures ORDER BY failed_at DESC LIMIT ?",
            [failures],
        )
    return 0


def show_query(con, title: str, query: str, parameters: list | None = None) -> None:
    result = con.execute(query, parameters or [])
    rows = Rows([d[0] for d in result.description], result.fetchall(), title=title)
    print_rows(rows, vertical=False)


def latest_skip(instance, key, *, after: float | None) -> str | None:
    """The reason of the asset's latest skip (an observation, see melodex_assets/results.py) when it
    is newer than its latest materialization."""
    records = instance.fetch_observations(key, limit=1).records
    if not records or (after is not None and records[0].timestamp <= after):
        return None
    skipped = records[0].asset_observation.metadata.get("skipped")
    return skipped.value if skipped is not None else None


def show_results(settings: MelodexSettings) -> None:
    from melodex_ml.store import connect

    console.rule("Results")
    for label, where in (
        ("DuckDB feature store", settings.duckdb_path),
        ("JSONL predictions", f"{settings.predictions_dir}/*.jsonl"),
        ("MLflow store", settings.mlflow_tracking_uri),
        ("Dagster home", f"{settings.dagster_home}  (melodex ui)"),
    ):
        say(f"{label:<21}: {where}")
    with connect(settings.duckdb_path, read_only=True) as con:
        for title, query in (
            ("tracks", "SELECT title, artist, array_to_string(genres, ', ') AS genres, round(duration_s, 1) AS duration_s "
                       "FROM live_tracks ORDER BY path LIMIT 5"),
            ("stages", "SELECT stage, status, count(*) AS batches, sum(n_ok) AS ok, sum(n_failed) AS failed "
                       "FROM stage_runs GROUP BY ALL ORDER BY ALL"),
            ("failures", "SELECT stage, error_type, count(*) AS n FROM failures GROUP BY ALL ORDER BY ALL"),
        ):
            show_query(con, title, query)
    predictions = sorted(settings.predictions_dir.glob("*.jsonl"))
    if predictions:
        from melodex_ml.inference.genre import read_jsonl

        say(("predictions", "bold"), f" ({predictions[0].name}, first 3 tracks)")
        for record in read_jsonl(predictions[0])[:3]:
            top = record["global_prediction"]
            labels = ", ".join(f"{label} {p:.2f}" for label, p in zip(top["top_labels"], top["probabilities"], strict=True))
            console.print(line(f"  {Path(record['audio_file']).name}: {labels}  ({record['total_segments']} segments)"))
