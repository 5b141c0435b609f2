import dagster as dg

from dagster_project.resources import MelodexSettingsResource
from melodex_assets.partitions import scan_batches


@dg.asset(group_name="catalog", kinds={"duckdb"}, pool="duckdb_writer")
def library_tracks(context: dg.AssetExecutionContext, melodex: MelodexSettingsResource) -> dg.MaterializeResult:
    """The `tracks` table: every audio file under the library roots with its tags, updated
    incrementally; new and changed tracks are handed downstream as scan-batch partitions."""
    from melodex_ml.stages import scan

    report = scan.scan_and_batch(melodex.get(), run_id=context.run.run_id)
    # Every batch in the store gets a partition, also one a crash kept from being registered last time.
    known = set(context.instance.get_dynamic_partitions(scan_batches.name))
    missing = [b for b in report.metadata.pop("known_batch_ids") if b not in known]
    if missing:
        context.instance.add_dynamic_partitions(scan_batches.name, missing)
    return dg.MaterializeResult(metadata={**report.metadata, "batch_ids": ", ".join(report.metadata["batch_ids"])})


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


@dg.asset(group_name="catalog", deps=[library_tracks], kinds={"duckdb"}, pool="duckdb_writer")
def dataset_catalog(
    context: dg.AssetExecutionContext, config: DatasetCatalogConfig, melodex: MelodexSettingsResource
) -> dg.MaterializeResult:
    """`dataset_catalog`: research datasets and the library in one schema, with captions and
    reproducible train/val/test splits; invalid records go to `catalog_errors`."""
    from melodex_ml.stages import catalog

    settings = melodex.get()
    options = catalog.unify_options(settings, **config.model_dump())
    report = catalog.build_dataset_catalog(settings, options, run_id=context.run.run_id)
    context.log.info(report.metadata["summary"])
    return dg.MaterializeResult(metadata=report.metadata)
