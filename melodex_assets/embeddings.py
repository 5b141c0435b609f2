"""embeddings: audio-encoder vectors per scan batch, sentence embeddings of the catalog's captions."""

import dagster as dg

from melodex_assets.catalog import dataset_catalog, library_tracks
from melodex_assets.checks import failure_share_check
from melodex_assets.partitions import scan_batches
from melodex_assets.resources import ModelLoaderResource
from melodex_assets.results import stage_events
from melodex_assets.stems import BATCH_RETRY
from melodex_ml.settings import MelodexSettings


@dg.asset(
    group_name="embeddings", partitions_def=scan_batches, deps=[library_tracks], kinds={"pytorch", "hdf5", "duckdb"},
    pool="gpu", output_required=False, retry_policy=BATCH_RETRY,
)
def track_embeddings(
    context: dg.AssetExecutionContext, settings: dg.ResourceParam[MelodexSettings], models: ModelLoaderResource
):
    """MusiCNN (msd-musicnn and mtt-musicnn, the trained checkpoints of the musicnn package, offline):
    200-d embeddings and 50 tag probabilities per 30 s segment and per track, in DuckDB
    (`track_embeddings`, `segment_embeddings`, `track_tags`, `segment_tags`) and HDF5
    (`embeddings/<model>/<batch>.h5`). They power tags, similar tracks, text search and the probes."""
    from melodex_ml.stages import embeddings

    yield from stage_events(
        context, settings,
        lambda: embeddings.embed_batch(
            settings, context.partition_key, cache=models.cache, device=models.device, run_id=context.run.run_id
        ),
        extra=models.load_report,
    )


@dg.asset(
    group_name="embeddings", partitions_def=scan_batches, deps=[library_tracks], kinds={"pytorch", "hdf5"},
    pool="gpu", output_required=False, retry_policy=BATCH_RETRY,
)
def track_encoder_embeddings(
    context: dg.AssetExecutionContext, settings: dg.ResourceParam[MelodexSettings], models: ModelLoaderResource
):
    """A configured transformer audio encoder's embeddings (MELODEX_AUDIO_ENCODER: MERT, wav2vec2,
    HuBERT, AST ...) per segment and per track, `embeddings/<encoder>/<batch>.h5`. Skipped, not
    materialized, while none is configured."""
    from melodex_ml.stages import embeddings

    yield from stage_events(
        context, settings,
        lambda: embeddings.embed_encoder_batch(
            settings, context.partition_key, cache=models.cache, device=models.device, run_id=context.run.run_id
        ),
        extra=models.load_report,
    )


@dg.asset(group_name="embeddings", deps=[dataset_catalog], kinds={"pytorch", "hdf5"}, pool="gpu", output_required=False)
def caption_embeddings(
    context: dg.AssetExecutionContext, settings: dg.ResourceParam[MelodexSettings], models: ModelLoaderResource
):
    """Sentence embeddings of every catalog caption (`embeddings/captions.h5`), bundled encoder by default."""
    from melodex_ml.stages import embeddings

    yield from stage_events(
        context, settings,
        lambda: embeddings.embed_catalog_captions(settings, cache=models.cache, device=models.device, run_id=context.run.run_id),
        extra=models.load_report,
    )


embeddings_failure_share = failure_share_check(track_embeddings, "embeddings")
encoder_embeddings_failure_share = failure_share_check(track_encoder_embeddings, "encoder_embeddings")
