import dagster as dg

from dagster_project.resources import MelodexSettingsResource, MlflowResource
from melodex_assets.embeddings import track_embeddings
from melodex_assets.features import track_features


@dg.asset(group_name="models", deps=[track_features, track_embeddings], kinds={"mlflow", "sklearn"})
def genre_classifier(
    context: dg.AssetExecutionContext, melodex: MelodexSettingsResource, tracking: MlflowResource
) -> dg.MaterializeResult:
    """A genre classifier on segment descriptors, evaluated on held-out artists, logged and
    registered in MLflow; the best version carries the `champion` alias."""
    from melodex_ml.stages import genre

    settings = melodex.get()
    report = genre.train_and_register(
        settings, start_run=lambda name: tracking.start_run(context, settings, name), run_id=context.run.run_id
    )
    return dg.MaterializeResult(metadata=report.metadata)
