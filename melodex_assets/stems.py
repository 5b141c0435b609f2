import dagster as dg

from dagster_project.resources import MelodexSettingsResource, ModelLoaderResource
from melodex_assets.catalog import library_tracks
from melodex_assets.partitions import scan_batches


@dg.asset(group_name="stems", partitions_def=scan_batches, deps=[library_tracks], kinds={"pytorch"}, pool="gpu")
def track_stems(
    context: dg.AssetExecutionContext, melodex: MelodexSettingsResource, models: ModelLoaderResource
) -> dg.MaterializeResult:
    """Demucs stems (drums, bass, other, vocals) of each track of the batch, as FLAC files."""
    from melodex_ml.stages import stems

    report = stems.separate_batch(
        melodex.get(), context.partition_key, cache=models.cache, device=models.resolved_device, run_id=context.run.run_id
    )
    return dg.MaterializeResult(metadata={**report.metadata, **models.load_report()})
