import dagster as dg

from dagster_project.resources import MelodexSettingsResource
from melodex_assets.partitions import scan_batches
from melodex_ml.stages import scan


@dg.asset(group_name="catalog", kinds={"duckdb"}, pool="duckdb_writer")
def library_tracks(context: dg.AssetExecutionContext, melodex: MelodexSettingsResource) -> dg.MaterializeResult:
    """The `tracks` table: every audio file under the library roots with its tags, updated
    incrementally; new and changed tracks are handed downstream as scan-batch partitions."""
    report = scan.scan_and_batch(melodex.get(), run_id=context.run.run_id)
    batch_ids = report.metadata["batch_ids"]
    if batch_ids:
        context.instance.add_dynamic_partitions(scan_batches.name, batch_ids)
    return dg.MaterializeResult(metadata={**report.metadata, "batch_ids": ", ".join(batch_ids)})
