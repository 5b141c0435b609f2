"""inference: per-segment genre predictions per scan batch, as JSONL."""

import dagster as dg

from melodex_assets.catalog import library_tracks
from melodex_assets.checks import one_row_per_track_check
from melodex_assets.embeddings import track_embeddings, track_encoder_embeddings
from melodex_assets.features import track_features
from melodex_assets.models import genre_classifier
from melodex_assets.partitions import scan_batches
from melodex_assets.resources import ModelLoaderResource
from melodex_assets.results import stage_events
from melodex_assets.stems import BATCH_RETRY
from melodex_ml.settings import MelodexSettings


@dg.asset(
    group_name="inference", partitions_def=scan_batches, deps=[genre_classifier, track_features, track_embeddings, track_encoder_embeddings, library_tracks], kinds={"json"},
    output_required=False, retry_policy=BATCH_RETRY,
)
def genre_predictions(
    context: dg.AssetExecutionContext, settings: dg.ResourceParam[MelodexSettings], models: ModelLoaderResource
):
    """`predictions/<batch>.jsonl`: per-segment genre probabilities, the track embedding and the top
    MusiCNN tags of each track of the batch, from the `champion` model (loaded once per process), fed
    what it was trained on (segment descriptors, stored embeddings, or the audio files streamed
    through a DataLoader). Paths come from the tracks table; a later move or retag alone does not
    re-predict (the views `genre_predictions` and `segment_predictions` join the live tracks)."""
    from melodex_ml.stages import inference

    yield from stage_events(
        context, settings,
        lambda: inference.predict_batch(
            settings, context.partition_key, run_id=context.run.run_id, cache=models.cache, device=models.device
        ),
        extra=models.load_report,
    )


predictions_one_row_per_track = one_row_per_track_check(
    genre_predictions, {"genre_predictions": "SELECT track_id FROM genre_predictions"}
)
