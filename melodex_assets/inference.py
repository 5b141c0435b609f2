import dagster as dg

from dagster_project.resources import MelodexSettingsResource
from melodex_assets.features import track_features
from melodex_assets.models import genre_classifier
from melodex_assets.partitions import scan_batches


@dg.asset(group_name="inference", partitions_def=scan_batches, deps=[genre_classifier, track_features], kinds={"json"})
def genre_predictions(context: dg.AssetExecutionContext, melodex: MelodexSettingsResource) -> dg.MaterializeResult:
    """`predictions/<batch>.jsonl`: per-segment genre probabilities from the champion model."""
    from melodex_ml.stages import genre

    report = genre.predict_batch(melodex.get(), context.partition_key, run_id=context.run.run_id)
    return dg.MaterializeResult(metadata=report.metadata)
