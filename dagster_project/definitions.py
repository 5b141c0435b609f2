import dagster as dg

import melodex_assets.catalog
import melodex_assets.embeddings
import melodex_assets.features
import melodex_assets.inference
import melodex_assets.models
import melodex_assets.stems
from dagster_project.jobs import (
    dataset_catalog_job,
    library_scan_job,
    predict_genres_job,
    process_scan_batch_job,
    train_genre_classifier_job,
)
from dagster_project.resources import MelodexSettingsResource, MlflowResource, ModelLoaderResource
from dagster_project.schedules import library_scan_schedule, genre_training_schedule
from dagster_project.sensors import library_change_sensor, new_genre_model_sensor, scan_batch_sensor
from melodex_ml.settings import get_settings


def build_definitions() -> dg.Definitions:
    """Definitions bound to the MELODEX_* environment as it is now."""
    settings = get_settings()
    return dg.Definitions(
        assets=dg.load_assets_from_modules(
            [
                melodex_assets.catalog,
                melodex_assets.stems,
                melodex_assets.features,
                melodex_assets.embeddings,
                melodex_assets.models,
                melodex_assets.inference,
            ]
        ),
        jobs=[dataset_catalog_job, library_scan_job, process_scan_batch_job, train_genre_classifier_job, predict_genres_job],
        schedules=[library_scan_schedule, genre_training_schedule],
        sensors=[library_change_sensor, scan_batch_sensor, new_genre_model_sensor],
        resources={
            "melodex": MelodexSettingsResource(),
            "models": ModelLoaderResource(device=settings.device),
            "tracking": MlflowResource(),
        },
    )


defs = build_definitions()
