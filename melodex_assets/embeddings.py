import dagster as dg

from dagster_project.resources import MelodexSettingsResource, ModelLoaderResource
from melodex_assets.catalog import dataset_catalog
from melodex_assets.features import track_features
from melodex_assets.partitions import scan_batches


@dg.asset(group_name="embeddings", partitions_def=scan_batches, deps=[track_features], kinds={"pytorch", "hdf5"}, pool="gpu")
def track_embeddings(
    context: dg.AssetExecutionContext, melodex: MelodexSettingsResource, models: ModelLoaderResource
) -> dg.MaterializeResult:
    """Transformer audio-encoder embeddings per segment and per track, one HDF5 file per batch."""
    from melodex_ml.stages import embeddings

    report = embeddings.embed_batch(
        melodex.get(), context.partition_key, cache=models.cache, device=models.resolved_device, run_id=context.run.run_id
    )
    return dg.MaterializeResult(metadata={**report.metadata, **models.load_report()})


@dg.asset(group_name="embeddings", deps=[dataset_catalog], kinds={"pytorch", "hdf5"}, pool="gpu")
def caption_embeddings(
    context: dg.AssetExecutionContext, melodex: MelodexSettingsResource, models: ModelLoaderResource
) -> dg.MaterializeResult:
    """Sentence embeddings of every catalog caption (`embeddings/captions.h5`)."""
    from melodex_ml.stages import embeddings

    report = embeddings.embed_catalog_captions(
        melodex.get(), cache=models.cache, device=models.resolved_device, run_id=context.run.run_id
    )
    return dg.MaterializeResult(metadata={**report.metadata, **models.load_report()})
