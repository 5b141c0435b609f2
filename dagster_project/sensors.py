"""Sensors: observe the library roots (no run of their own), and evaluate the automation conditions."""

from __future__ import annotations

import dagster as dg

from melodex_assets.catalog import library_observation
from melodex_ml.settings import MelodexSettings

AUTOMATION_TAGS = {"melodex/launched_by": "automation"}


def build_library_observation_sensor(settings: MelodexSettings) -> dg.SensorDefinition:
    @dg.sensor(
        name="library_observation_sensor",
        minimum_interval_seconds=settings.sensor_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def library_observation_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        """Takes the library roots' stat fingerprint every MELODEX_SENSOR_INTERVAL_SECONDS and records
        an observation of `library_roots` when it changed; the automation sensor then schedules the
        scan. Launches no run itself."""
        if context.cursor is None:
            # Give the automation sensor one interval to take its baseline first: an observation it
            # has not seen a previous tick for would be swallowed by its initial evaluation.
            return dg.SensorResult(skip_reason="first tick: waiting for the automation sensor's baseline", cursor="1")
        observation = library_observation(context.instance, settings)
        if observation is None:
            return dg.SkipReason("library unchanged since its last observation")
        return dg.SensorResult(asset_events=[observation])

    return library_observation_sensor


automation_sensor = dg.AutomationConditionSensorDefinition(
    "melodex_automation",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    run_tags=AUTOMATION_TAGS,
    description="Evaluates every asset's automation condition (melodex_assets/automation.py) every 30 s and "
    "launches the runs they request; `melodex run` evaluates the same conditions in-process.",
)
