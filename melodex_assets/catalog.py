"""catalog: the library roots (observed), the `tracks` table and the unified dataset catalog."""


import dagster as dg

from melodex_assets.partitions import scan_batches
from melodex_assets.results import stage_events
from melodex_ml.catalog.fingerprint import library_fingerprint
from melodex_ml.settings import MelodexSettings

LIBRARY_ROOTS = dg.AssetKey("library_roots")
DATA_VERSION_TAG = "dagster/data_version"  # where Dagster keeps an observation's data version


@dg.observable_source_asset(group_name="catalog", required_resource_keys={"settings"})
def library_roots(context: dg.OpExecutionContext) -> dg.DataVersion:
    """The music folders (MELODEX_LIBRARY_ROOTS). Their data version is a stat-only fingerprint
    of every file's path, size and mtime: an unchanged library is no new data, so nothing
    downstream turns stale. `library_observation_sensor` observes it without launching runs."""
    return dg.DataVersion(library_fingerprint(context.resources.settings.roots))


def library_observation(instance: dg.DagsterInstance, settings: MelodexSettings) -> dg.AssetObservation | None:
    """An observation of the roots' fingerprint when it differs from the last one recorded, else None.

    Shared by the daemon's sensor and `melodex run`, so both see a change exactly once.
    """
    fingerprint = library_fingerprint(settings.roots)
    latest = instance.get_latest_data_version_record(LIBRARY_ROOTS, is_source=True)
    observation = latest.event_log_entry.asset_observation if latest else None
    if observation is not None and observation.tags.get(DATA_VERSION_TAG) == fingerprint:
        return None
    return dg.AssetObservation(
        asset_key=LIBRARY_ROOTS,
        tags={DATA_VERSION_TAG: fingerprint},
        metadata={"roots": dg.MetadataValue.text(", ".join(map(str, settings.roots)))},
    )


@dg.asset(
    group_name="catalog", deps=[library_roots], kinds={"duckdb"}, pool="duckdb_writer",
    retry_policy=dg.RetryPolicy(max_retries=2, delay=10, backoff=dg.Backoff.EXPONENTIAL),
)
def library_tracks(context: dg.AssetExecutionContext, settings: dg.ResourceParam[MelodexSettings]):
    """The `tracks` table: every audio file under the library roots with its tags, updated
    incrementally; new and changed tracks are handed downstream as scan-batch partitions.
    Its data version hashes what downstream reads of the live tracks (ids, paths, audio, tags)."""
    from melodex_ml.stages import scan

    def run():
        report = scan.scan_and_batch(settings, run_id=context.run.run_id)
        # Every batch in the store gets a partition, also one a crash kept from being registered last time.
        known = set(context.instance.get_dynamic_partitions(scan_batches.name))
        missing = [b for b in report.metadata.pop("known_batch_ids") if b not in known]
        if missing:
            context.instance.add_dynamic_partitions(scan_batches.name, missing)
        context.log.info(report.metadata["summary"])
        return report

    yield from stage_events(context, settings, run)


class DatasetCatalogConfig(dg.Config):
    """The options of `melodex catalog unify`; empty fields keep the defaults."""

    datasets: list[str] | None = None  # default: every MELODEX_DATASET_ROOTS entry plus the library
    max_samples: int | None = None
    stratify_by: str | None = None  # none | dataset | duration
    samples_per_dataset: int | None = None
    min_duration: float | None = None
    max_duration: float | None = None
    seed: int | None = None
    split_by_artist: bool | None = None
    use_official_splits: bool | None = None
    dry_run: bool | None = None


@dg.asset(
    group_name="catalog", deps=[library_tracks], kinds={"duckdb"}, pool="duckdb_writer", output_required=False,
)
def dataset_catalog(
    context: dg.AssetExecutionContext, config: DatasetCatalogConfig, settings: dg.ResourceParam[MelodexSettings]
):
    """`dataset_catalog`: research datasets (MELODEX_DATASET_ROOTS) and the library in one schema,
    with captions and reproducible train/val/test splits; invalid records go to `catalog_errors`.
    A dry run writes nothing and is not a materialization."""
    from melodex_ml.stages import catalog

    def run():
        options = catalog.unify_options(settings, **config.model_dump())
        report = catalog.build_dataset_catalog(settings, options, run_id=context.run.run_id)
        context.log.info(report.metadata["summary"])
        return report

    yield from stage_events(context, settings, run)


@dg.asset_check(asset=dataset_catalog, blocking=True)
def no_split_leakage(context: dg.AssetCheckExecutionContext, settings: dg.ResourceParam[MelodexSettings]):
    """No recording, and (when the catalog is split by artist, the default) no artist, on two sides
    of the train/val/test split. Blocking: models are not trained on a leaking split."""
    from melodex_ml.stages import catalog

    leaks = catalog.find_split_leaks(settings)
    latest = context.instance.get_latest_materialization_event(dataset_catalog.key)
    split_metadata = latest.asset_materialization.metadata.get("split_by_artist") if latest else None
    by_artist = True if split_metadata is None else bool(split_metadata.value)
    artist_leaks = leaks.artists if by_artist else []
    return dg.AssetCheckResult(
        passed=not leaks.tracks and not artist_leaks,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "tracks_on_several_sides": len(leaks.tracks),
            "artists_on_several_sides": len(leaks.artists),
            "split_by_artist": by_artist,
            "examples": leaks.examples,
        },
    )
