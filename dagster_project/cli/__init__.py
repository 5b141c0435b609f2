"""The `melodex` command line."""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

from melodex_ml.settings import MelodexSettings

# Piped output is not wrapped at 80 columns: tables stay readable in logs and CI.
console = Console(width=None if sys.stdout.isatty() else 160)
STAGE_ORDER = ["catalog", "stems", "features", "embeddings", "models", "inference"]


def with_roots(settings: MelodexSettings, paths: Sequence[str] | None) -> MelodexSettings:
    """``--root`` options replace the configured library roots for this command."""
    if not paths:
        return settings
    return settings.with_overrides(library_roots=[str(Path(p).expanduser().resolve()) for p in paths])


def print_rows(columns: Sequence[str], rows: Sequence[Sequence[object]], *, fmt: str = "table", title: str | None = None) -> None:
    if fmt == "json":
        console.print_json(json.dumps([dict(zip(columns, r, strict=True)) for r in rows], default=str))
        return
    if fmt == "csv":
        import csv

        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows(rows)
        return
    table = Table(*columns, title=title, show_lines=False)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    console.print(table)


def cmd_demo(args: argparse.Namespace, settings: MelodexSettings) -> int:
    from melodex_ml.demo import generate_demo_library

    if settings.library_roots:
        # The roots are the whole library: scanning only the demo would retire every configured track.
        console.print(
            f"[red]MELODEX_LIBRARY_ROOTS is set[/] ({os.pathsep.join(map(str, settings.library_roots))}): the demo "
            f"would retire those tracks in {settings.home_dir}. Unset it, or give the demo its own MELODEX_HOME."
        )
        return 2
    library = Path(args.library).expanduser().resolve() if args.library else settings.demo_library
    console.print(f"[bold]Demo library[/] {library}")
    truth = generate_demo_library(library, n_tracks=args.tracks, seed=args.seed, with_defects=True)
    console.print(f"  {len(truth)} tracks with ground truth in {library / 'ground_truth.json'}")
    return run_pipeline(with_roots(settings, [str(library)]), launched_by="melodex demo")


def cmd_run(args: argparse.Namespace, settings: MelodexSettings) -> int:
    return run_pipeline(with_roots(settings, args.root), launched_by="melodex run", retrain=args.retrain)


def run_pipeline(settings: MelodexSettings, *, launched_by: str, retrain: bool = False) -> int:
    from dagster_project.definitions import build_definitions
    from dagster_project.instance import ensure_instance
    from dagster_project.orchestrate import materialize_pending

    summary = materialize_pending(
        build_definitions(settings), ensure_instance(settings), settings,
        launched_by=launched_by, retrain=retrain, echo=console.print,
    )
    if not summary.runs:
        console.print("nothing to do: the library and every result are up to date")
    show_results(settings)
    return 0 if summary.ok else 1


def show_results(settings: MelodexSettings) -> None:
    from melodex_ml.store import connect

    console.rule("Results")
    console.print(f"DuckDB feature store : {settings.duckdb_path}")
    console.print(f"JSONL predictions    : {settings.predictions_dir}/*.jsonl")
    console.print(f"MLflow store         : {settings.mlflow_tracking_uri}")
    console.print(f"Dagster home         : {settings.dagster_home}  (melodex ui)")
    with connect(settings.duckdb_path, read_only=True) as con:
        for title, query in (
            ("tracks", "SELECT title, artist, array_to_string(genres, ', ') AS genres, round(duration_s, 1) AS duration_s "
                       "FROM live_tracks ORDER BY path LIMIT 5"),
            ("stages", "SELECT stage, status, count(*) AS batches, sum(n_ok) AS ok, sum(n_failed) AS failed FROM stage_runs GROUP BY ALL ORDER BY ALL"),
            ("failures", "SELECT stage, error_type, count(*) AS n FROM failures GROUP BY ALL ORDER BY ALL"),
        ):
            result = con.execute(query)
            print_rows([d[0] for d in result.description], result.fetchall(), title=title)
    predictions = sorted(settings.predictions_dir.glob("*.jsonl"))
    if predictions:
        from melodex_ml.inference.genre import read_jsonl

        console.print(f"[bold]predictions[/] ({predictions[0].name}, first 3 tracks)")
        for record in read_jsonl(predictions[0])[:3]:
            top = record["global_prediction"]
            console.print(
                f"  {Path(record['audio_file']).name}: "
                + ", ".join(f"{label} {p:.2f}" for label, p in zip(top["top_labels"], top["probabilities"], strict=True))
                + f"  ({record['total_segments']} segments)"
            )


def cmd_scan(args: argparse.Namespace, settings: MelodexSettings) -> int:
    from dagster_project.definitions import build_definitions
    from dagster_project.instance import QUIET, ensure_instance
    from dagster_project.orchestrate import run_tags

    settings = with_roots(settings, args.root)
    result = build_definitions(settings).resolve_job_def("library_scan_job").execute_in_process(
        instance=ensure_instance(settings), raise_on_error=False, run_config=QUIET, tags=run_tags("melodex scan")
    )
    if not result.success:
        console.print(f"[red]scan failed[/]: see `melodex status` or run {result.run_id} in the Dagster UI")
    for event in result.get_asset_materialization_events():
        summary = event.materialization.metadata.get("summary")
        if summary is not None:
            console.print(summary.value.strip("`\n"))
    return 0 if result.success else 1


def cmd_sql(args: argparse.Namespace, settings: MelodexSettings) -> int:
    import duckdb

    from melodex_ml.store import connect

    with connect(settings.duckdb_path, read_only=True) as con:
        try:
            result = con.execute(args.query)
        except duckdb.Error as exc:
            console.print(f"[red]SQL error:[/] {exc}")
            return 2
        if result.description is None:
            return 0
        rows = result.fetchmany(args.limit) if args.limit else result.fetchall()
        print_rows([d[0] for d in result.description], rows, fmt=args.format)
    return 0


def cmd_status(args: argparse.Namespace, settings: MelodexSettings) -> int:
    from dagster_project.definitions import build_definitions
    from dagster_project.instance import ensure_instance
    from melodex_ml.store import connect

    instance = ensure_instance(settings)
    defs = build_definitions(settings)
    partitions = set(instance.get_dynamic_partitions("scan_batches"))
    rows = []
    specs = sorted(defs.resolve_all_asset_specs(), key=lambda s: (STAGE_ORDER.index(s.group_name), s.key.to_user_string()))
    for spec in specs:
        record = instance.get_latest_materialization_event(spec.key)
        when = record.timestamp if record else None
        done = instance.get_materialized_partitions(spec.key) if spec.partitions_def else None
        rows.append([
            spec.group_name,
            spec.key.to_user_string(),
            "never" if when is None else datetime.fromtimestamp(when).isoformat(timespec="seconds"),
            "" if done is None else f"{len(done & partitions)}/{len(partitions)} batches",
            latest_skip(instance, spec.key, after=when),
        ])
    print_rows(["group", "asset", "last materialized", "partitions", "skipped because"], rows, title="assets")
    if settings.duckdb_path.exists():
        with connect(settings.duckdb_path, read_only=True) as con:
            result = con.execute(
                "SELECT stage, status, count(*) AS batches, sum(n_ok) AS ok, sum(n_failed) AS failed, "
                "strftime(max(finished_at), '%Y-%m-%d %H:%M:%S') AS last, "
                "CASE WHEN status IN ('skipped', 'failed') THEN arg_max(detail, finished_at) END AS reason "
                "FROM stage_runs GROUP BY stage, status ORDER BY ALL"
            )
            print_rows([d[0] for d in result.description], result.fetchall(), title="stages")
            result = con.execute(
                "SELECT stage, item, error_type, left(message, 100) AS message, "
                "strftime(failed_at, '%Y-%m-%d %H:%M:%S') AS failed_at FROM failures "
                "ORDER BY failed_at DESC LIMIT ?",
                [args.failures],
            )
            print_rows([d[0] for d in result.description], result.fetchall(), title="latest failures")
    return 0


def latest_skip(instance, key, *, after: float | None) -> str:
    """The reason of the asset's latest skip (an observation, see melodex_assets/results.py) when it
    is newer than its latest materialization."""
    records = instance.fetch_observations(key, limit=1).records
    if not records or (after is not None and records[0].timestamp <= after):
        return ""
    skipped = records[0].asset_observation.metadata.get("skipped")
    return skipped.value if skipped is not None else ""


def cmd_features(args: argparse.Namespace, settings: MelodexSettings) -> int:
    from melodex_ml.features.records import FeatureFailure
    from melodex_ml.features.report import analyze_paths

    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        Console(stderr=True).print(f"[red]no such file or folder:[/] {', '.join(missing)}")
        return 2
    outcomes = analyze_paths(args.paths, fmt=args.format, output=args.output, settings=settings)
    failed = sum(isinstance(outcome, FeatureFailure) for _, outcome in outcomes)
    if failed:
        Console(stderr=True).print(f"{failed} of {len(outcomes)} file(s) could not be analysed (see the error columns)")
    # 0: every file analysed, 1: some failed or none found
    return 0 if outcomes and not failed else 1


def cmd_catalog_unify(args: argparse.Namespace, settings: MelodexSettings) -> int:
    from melodex_assets.catalog import DatasetCatalogConfig
    from melodex_ml.stages import catalog

    choices = {
        "datasets": args.datasets, "max_samples": args.max_samples, "stratify_by": args.stratify_by,
        "samples_per_dataset": args.samples_per_dataset, "min_duration": args.min_duration,
        "max_duration": args.max_duration, "seed": args.seed,
        "split_by_artist": False if args.allow_artist_overlap else None,
        "use_official_splits": True if args.official_splits else None, "dry_run": True if args.dry_run else None,
    }
    if args.roots:
        settings = settings.with_overrides(
            dataset_roots={**settings.dataset_roots, **dict(item.split("=", 1) for item in args.roots)}
        )
    config = DatasetCatalogConfig(**choices)
    try:
        options = catalog.unify_options(settings, **config.model_dump())
    except ValueError as exc:
        console.print(f"[red]{exc}[/]")
        return 2
    if options.dry_run:
        console.print(catalog.build_dataset_catalog(settings, options).metadata["summary"])
        return 0
    from dagster_project.definitions import build_definitions
    from dagster_project.instance import QUIET, ensure_instance
    from dagster_project.orchestrate import run_tags

    result = build_definitions(settings).resolve_job_def("dataset_catalog_job").execute_in_process(
        instance=ensure_instance(settings), raise_on_error=False, tags=run_tags("melodex catalog unify"),
        run_config={**QUIET, "ops": {"dataset_catalog": {"config": config.model_dump(exclude_none=True)}}},
    )
    for event in result.get_asset_materialization_events():
        if "summary" in event.materialization.metadata:
            console.print(event.materialization.metadata["summary"].value.strip("`\n"))
    if args.export and result.success:
        from melodex_ml.catalog.datasets.records import CatalogRecord
        from melodex_ml.catalog.unify import export_json, export_parquet
        from melodex_ml.store import connect

        with connect(settings.duckdb_path, read_only=True) as con:
            rows = con.execute("SELECT * FROM dataset_catalog ORDER BY id")
            names = [d[0] for d in rows.description]
            records = [CatalogRecord.from_row(dict(zip(names, r, strict=True))) for r in rows.fetchall()]
        export = export_parquet if args.export.endswith(".parquet") else export_json
        console.print(f"exported {len(records)} records to {export(records, args.export)}")
    return 0 if result.success else 1


def cmd_ui(args: argparse.Namespace, settings: MelodexSettings) -> int:
    from dagster_project.instance import ensure_instance

    ensure_instance(settings)
    # The interpreter running us has dagster installed, whether or not its bin folder is on PATH.
    # The code server reads the same MELODEX_* environment, so it builds the same settings.
    command = [sys.executable, "-m", "dagster", "dev", "-m", "dagster_project.definitions", "-p", str(args.port)]
    os.execve(sys.executable, command, {**os.environ, "DAGSTER_HOME": str(settings.dagster_home)})


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="melodex", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="generate the demo library if absent, then materialize everything")
    demo.add_argument("--library", help="where the demo library lives (default $MELODEX_HOME/demo-library)")
    demo.add_argument("--tracks", type=int, default=60)
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(func=cmd_demo)

    run = sub.add_parser("run", help="materialize the whole graph for the configured library")
    run.add_argument("--root", action="append", help="library root (repeatable), replacing MELODEX_LIBRARY_ROOTS")
    run.add_argument("--retrain", action="store_true", help="retrain the genre classifier even if nothing changed")
    run.set_defaults(func=cmd_run)

    scan = sub.add_parser("scan", help="scan the library roots and print what changed")
    scan.add_argument(
        "--root", action="append",
        help="library root (repeatable), replacing MELODEX_LIBRARY_ROOTS for this scan: the roots are the whole "
        "library, so tracks outside them are retired",
    )
    scan.set_defaults(func=cmd_scan)

    sql = sub.add_parser("sql", help="run SQL on the feature store")
    sql.add_argument("query")
    sql.add_argument("--format", choices=["table", "csv", "json"], default="table")
    sql.add_argument("--limit", type=int, default=0, help="print at most this many rows (0: all)")
    sql.set_defaults(func=cmd_sql)

    status = sub.add_parser("status", help="what is materialized, what failed")
    status.add_argument("--failures", type=int, default=10, help="how many recent failures to list")
    status.set_defaults(func=cmd_status)

    features = sub.add_parser("features", help="descriptors of files or folders, without touching the store")
    features.add_argument("paths", nargs="+")
    features.add_argument("--format", choices=["table", "json", "csv"], default="table")
    features.add_argument("--output", help="write the report to this file instead of the terminal")
    features.set_defaults(func=cmd_features)

    catalog = sub.add_parser("catalog", help="research-dataset catalogs").add_subparsers(dest="action", required=True)
    unify = catalog.add_parser("unify", help="unify datasets and the library into one catalog with splits")
    unify.add_argument("--datasets", nargs="+", help="default: every MELODEX_DATASET_ROOTS entry plus library")
    unify.add_argument("--root", dest="roots", action="append", metavar="NAME=PATH", help="dataset root (repeatable)")
    unify.add_argument("--max-samples", type=int)
    unify.add_argument("--stratify-by", choices=["none", "dataset", "duration"])
    unify.add_argument("--samples-per-dataset", type=int)
    unify.add_argument("--min-duration", type=float)
    unify.add_argument("--max-duration", type=float)
    unify.add_argument("--seed", type=int)
    unify.add_argument("--allow-artist-overlap", action="store_true", help="split by track only, not by artist")
    unify.add_argument("--official-splits", action="store_true", help="keep a dataset's published split")
    unify.add_argument("--dry-run", action="store_true", help="report what would be built, write nothing")
    unify.add_argument("--export", help="also write the catalog to this .json or .parquet file")
    unify.set_defaults(func=cmd_catalog_unify)

    ui = sub.add_parser("ui", help="start the Dagster UI on this project's instance")
    ui.add_argument("--port", type=int, default=3000)
    ui.set_defaults(func=cmd_ui)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    args = build_parser().parse_args(argv)
    from melodex_ml.models.cache import apply_download_policy
    from melodex_ml.settings import get_settings

    settings = get_settings()  # the one read of MELODEX_*; every command gets it passed down
    apply_download_policy(settings.allow_downloads)
    return args.func(args, settings)


if __name__ == "__main__":
    sys.exit(main())
