"""inference: per-segment genre predictions per scan batch, as JSONL."""

import dagster as dg

from melodex_assets.catalog import library_tracks
from melodex_assets.checks import one_row_per_track_check
from melodex_assets.features import track_features
from melodex_assets.models import genre_classifier
from melodex_assets.partitions import scan_batches
from melodex_assets.results import stage_events
from melodex_assets.stems import BATCH_RETRY
from melodex_ml.settings import MelodexSettings


@dg.asset(
    group_name="inference", partitions_def=scan_batches, deps=[genre_classifier, track_features, library_tracks], kinds={"json"},
    output_required=False, retry_policy=BATCH_RETRY,
)
def genre_predictions(context: dg.AssetExecutionContext, settings: dg.ResourceParam[MelodexSettings]):
    """`predictions/<batch>.jsonl`: per-segment genre probabilities of the batch's tracks from the
    `champion` model, read with the segment descriptors it was trained on. Paths come from the
    tracks table; a later move or retag alone does not re-predict (the `genre_predictions` view
    joins the live tracks, so SQL always shows current paths)."""
    from melodex_ml.stages import genre

    yield from stage_events(
        context, settings, lambda: genre.predict_batch(settings, context.partition_key, run_id=context.run.run_id)
    )


predictions_one_row_per_track = one_row_per_track_check(
    genre_predictions, {"genre_predictions": "SELECT track_id FROM genre_predictions"}
)
