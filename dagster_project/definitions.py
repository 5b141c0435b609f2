"""The code location: every asset, check, job and sensor, bound to one settings object."""

from __future__ import annotations

import dagster as dg

from dagster_project.jobs import JOBS
from dagster_project.sensors import automation_sensor, build_library_observation_sensor
from melodex_assets import build_asset_checks, build_assets
from melodex_assets.resources import MlflowResource, ModelLoaderResource
from melodex_ml.models.cache import apply_download_policy
from melodex_ml.settings import MelodexSettings, get_settings


def build_definitions(settings: MelodexSettings) -> dg.Definitions:
    """Definitions for ``settings``; the CLI builds its own from its options, the code server from the environment."""
    apply_download_policy(settings.allow_downloads)
    return dg.Definitions(
        assets=build_assets(settings),
        asset_checks=build_asset_checks(),
        jobs=JOBS,
        sensors=[automation_sensor, build_library_observation_sensor(settings)],
        resources={
            "settings": settings,
            "models": ModelLoaderResource(device=settings.device),
            "tracking": MlflowResource(experiment=settings.mlflow_experiment),
        },
    )


@dg.definitions
def defs() -> dg.Definitions:
    """Loaded lazily by `dagster dev` / the code server: settings are read from MELODEX_* then."""
    return build_definitions(get_settings())
