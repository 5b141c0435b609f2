"""models: classifiers trained on the stored features, tracked and registered in MLflow."""

import dagster as dg

from melodex_assets.catalog import DATA_VERSION_TAG, dataset_catalog, library_tracks
from melodex_assets.features import track_features
from melodex_assets.resources import MlflowResource
from melodex_assets.results import stage_events
from melodex_ml.settings import MelodexSettings


@dg.asset(
    group_name="models", deps=[track_features, library_tracks, dataset_catalog], kinds={"mlflow", "sklearn"},
    output_required=False,
)
def genre_classifier(
    context: dg.AssetExecutionContext, settings: dg.ResourceParam[MelodexSettings], tracking: MlflowResource
):
    """A genre classifier on segment descriptors (`segment_features`), labels from the tracks'
    genre tags, scored on the catalog's held-out split; logged and registered in MLflow, the best
    version carries the `champion` alias. Its data version is the champion: a retrain that does not
    beat it triggers no re-prediction. Not enough labels: skipped, not materialized."""
    from melodex_ml.stages import genre

    yield from stage_events(
        context, settings,
        lambda: genre.train_and_register(
            settings, start_run=lambda name: tracking.start_run(context, settings, name), run_id=context.run.run_id
        ),
    )


@dg.asset_check(asset=genre_classifier, blocking=True)
def champion_metric_floor(settings: dg.ResourceParam[MelodexSettings]):
    """The champion's held-out macro F1 reaches MELODEX_MODEL_METRIC_FLOOR. Blocking: inference
    does not run from a model that failed it."""
    from melodex_ml import tracking

    score = tracking.champion_metric(settings)
    return dg.AssetCheckResult(
        passed=score is not None and score >= settings.model_metric_floor,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"metric": tracking.SELECTION_METRIC, "champion_score": score if score is not None else float("nan"),
                  "floor": settings.model_metric_floor},
    )


def champion_catch_up(
    instance: dg.DagsterInstance, settings: MelodexSettings
) -> tuple[dg.AssetMaterialization, dg.AssetCheckEvaluation] | None:
    """A materialization of `genre_classifier` for a champion that MLflow has and Dagster never
    recorded (the training process was killed after moving the alias), with its metric-floor check:
    inference then follows it, once validated, as after any training."""
    if not settings.mlflow_store_exists:
        return None
    from melodex_ml import tracking

    version = tracking.champion_identity(settings)
    if version is None:
        return None
    latest = instance.get_latest_materialization_event(genre_classifier.key)
    if latest is not None and latest.asset_materialization.tags.get(DATA_VERSION_TAG) == version:
        return None
    materialization = dg.AssetMaterialization(
        genre_classifier.key,
        description="recorded at start-up: the run that trained this champion ended before reporting it",
        metadata={"champion": version},
        tags={DATA_VERSION_TAG: version},
    )
    floor = champion_metric_floor(settings=settings)
    check = dg.AssetCheckEvaluation(
        asset_key=genre_classifier.key, check_name="champion_metric_floor", passed=floor.passed,
        severity=floor.severity, metadata=floor.metadata, blocking=True,
    )
    return materialization, check
