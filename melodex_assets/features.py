"""features: tabular descriptors per scan batch."""

import dagster as dg

from melodex_assets.catalog import library_tracks
from melodex_assets.checks import failure_share_check, one_row_per_track_check
from melodex_assets.partitions import scan_batches
from melodex_assets.results import stage_events
from melodex_assets.stems import BATCH_RETRY
from melodex_ml.settings import MelodexSettings


@dg.asset(
    group_name="features", partitions_def=scan_batches, deps=[library_tracks], kinds={"duckdb"},
    output_required=False, retry_policy=BATCH_RETRY,
)
def track_features(context: dg.AssetExecutionContext, settings: dg.ResourceParam[MelodexSettings]):
    """`features` and `segment_features` rows (loudness, rhythm, tonality, timbre, model heads)
    of each track of the batch, decoded from the audio files; re-materializing replaces the
    batch's rows. The code version names the extractor version and the Essentia heads."""
    from melodex_ml.stages import features

    # The extractor and its Essentia heads are cached per process by melodex_ml.features.
    yield from stage_events(
        context, settings, lambda: features.extract_batch_features(settings, context.partition_key, run_id=context.run.run_id)
    )


features_failure_share = failure_share_check(track_features, "features")
features_one_row_per_track = one_row_per_track_check(
    track_features,
    {
        "audio_features": "SELECT track_id FROM audio_features",
        "segment_features": "SELECT track_id || '/' || segment_index FROM segment_features",
        "head_predictions": "SELECT concat_ws('/', track_id, coalesce(CAST(segment_index AS VARCHAR), 'track'), "
        "model, label) FROM head_predictions",
    },
)
