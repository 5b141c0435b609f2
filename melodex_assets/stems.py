"""stems: Demucs source separation per scan batch."""

import dagster as dg

from melodex_assets.catalog import library_tracks
from melodex_assets.checks import failure_share_check
from melodex_assets.partitions import scan_batches
from melodex_assets.resources import ModelLoaderResource
from melodex_assets.results import stage_events
from melodex_ml.settings import MelodexSettings

BATCH_RETRY = dg.RetryPolicy(max_retries=2, delay=10, backoff=dg.Backoff.EXPONENTIAL)


@dg.asset(
    group_name="stems", partitions_def=scan_batches, deps=[library_tracks], kinds={"pytorch"}, pool="gpu",
    output_required=False, retry_policy=BATCH_RETRY,
)
def track_stems(
    context: dg.AssetExecutionContext, settings: dg.ResourceParam[MelodexSettings], models: ModelLoaderResource
):
    """Demucs stems (drums, bass, other, vocals) of each track of the batch, as FLAC files under
    `stems/<track_id>/`. Skipped, not materialized, while no Demucs weights are available offline."""
    from melodex_ml.stages import stems

    yield from stage_events(
        context, settings,
        lambda: stems.separate_batch(
            settings, context.partition_key, cache=models.cache, device=models.device, run_id=context.run.run_id
        ),
        extra=models.load_report,
    )


stems_failure_share = failure_share_check(track_stems, "stems")
