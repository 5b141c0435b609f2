import dagster as dg

from dagster_project.resources import MelodexSettingsResource
from melodex_assets.partitions import scan_batches
from melodex_assets.stems import track_stems


@dg.asset(group_name="features", partitions_def=scan_batches, deps=[track_stems], kinds={"duckdb"})
def track_features(context: dg.AssetExecutionContext, melodex: MelodexSettingsResource) -> dg.MaterializeResult:
    """`features` and `segment_features` rows (loudness, rhythm, tonality, timbre, model heads)
    of each track of the batch; re-materializing replaces the batch's rows."""
    from melodex_ml.stages import features

    # The extractor and its Essentia heads are cached per process by melodex_ml.features.
    report = features.extract_batch_features(melodex.get(), context.partition_key, run_id=context.run.run_id)
    return dg.MaterializeResult(metadata=report.metadata)
