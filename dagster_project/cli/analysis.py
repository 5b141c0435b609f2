"""`melodex features` (files analysed without the store) and `melodex catalog unify` (research datasets)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from dagster_project.cli.errors import FAILED, USAGE
from dagster_project.cli.runs import log_level, report_run
from dagster_project.cli.terminal import fail, say, warn
from melodex_ml.settings import MelodexSettings


def features(settings: MelodexSettings, paths: Sequence[str], *, fmt: str, output: str | None) -> int:
    from melodex_ml.features.records import FeatureFailure
    from melodex_ml.features.report import analyze_paths

    missing = [p for p in paths if not Path(p).exists()]
    if missing:
        fail(f"no such file or folder: {', '.join(missing)}")
        return USAGE
    outcomes = analyze_paths(paths, fmt=fmt, output=output, settings=settings, background_tags=True)
    failed = sum(isinstance(outcome, FeatureFailure) for _, outcome in outcomes)
    if failed:
        warn(f"{failed} of {len(outcomes)} file(s) could not be analysed (see the error columns)")
    # 0: every file analysed, 1: some failed or none found
    return 0 if outcomes and not failed else FAILED


def catalog_unify(settings: MelodexSettings, args, *, debug: bool = False) -> int:
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
        malformed = [item for item in args.roots if "=" not in item]
        if malformed:
            fail(f"--root takes NAME=PATH, not {', '.join(map(repr, malformed))}")
            return USAGE
        settings = settings.with_overrides(
            dataset_roots={**settings.dataset_roots, **dict(item.split("=", 1) for item in args.roots)}
        )
    config = DatasetCatalogConfig(**choices)
    try:
        options = catalog.unify_options(settings, **config.model_dump())
    except ValueError as exc:
        fail(str(exc))
        return USAGE
    if options.dry_run:
        say(catalog.build_dataset_catalog(settings, options).metadata["summary"])
        return 0
    from dagster_project.definitions import build_definitions
    from dagster_project.instance import console_log, ensure_instance
    from dagster_project.orchestrate import run_tags

    instance = ensure_instance(settings)
    result = build_definitions(settings).resolve_job_def("dataset_catalog_job").execute_in_process(
        instance=instance, raise_on_error=False, tags=run_tags("melodex catalog unify"),
        run_config={
            **console_log(log_level(debug)),
            "ops": {"dataset_catalog": {"config": config.model_dump(exclude_none=True)}},
        },
    )
    code = report_run(instance, result.run_id, indent="")
    if not result.success:
        return code or FAILED
    if args.export:
        say(f"exported {export_catalog(settings, args.export)} records to {args.export}")
    return 0


def export_catalog(settings: MelodexSettings, target: str) -> int:
    from melodex_ml.catalog.datasets.records import CatalogRecord
    from melodex_ml.catalog.unify import export_json, export_parquet
    from melodex_ml.store import connect

    with connect(settings.duckdb_path, read_only=True) as con:
        rows = con.execute("SELECT * FROM dataset_catalog ORDER BY id")
        names = [d[0] for d in rows.description]
        records = [CatalogRecord.from_row(dict(zip(names, r, strict=True))) for r in rows.fetchall()]
    (export_parquet if target.endswith(".parquet") else export_json)(records, target)
    return len(records)
