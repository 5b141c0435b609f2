"""Sensors: notice library changes, hand new scan batches downstream, re-predict after retraining."""

import dagster as dg

from dagster_project.jobs import library_scan_job, predict_genres_job, process_scan_batch_job
from melodex_assets.partitions import scan_batches
from melodex_ml.catalog.fingerprint import library_fingerprint
from melodex_ml.settings import get_settings

_settings = get_settings()


@dg.sensor(
    job=library_scan_job,
    minimum_interval_seconds=_settings.sensor_interval_seconds,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def library_change_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
    """Requests a scan when a cheap fingerprint of the roots (names, sizes, mtimes) changes."""
    fingerprint = library_fingerprint(get_settings().roots)
    if fingerprint == context.cursor:
        return dg.SkipReason("library unchanged since the last scan request")
    return dg.SensorResult(run_requests=[dg.RunRequest(run_key=fingerprint)], cursor=fingerprint)


@dg.sensor(job=process_scan_batch_job, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING)
def scan_batch_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
    """One run per scan batch whose features were never materialized; the run loads each
    model once for all the batch's tracks. Run keys make a batch's request happen once."""
    done = context.instance.get_materialized_partitions(dg.AssetKey("track_features"))
    pending = sorted(set(context.instance.get_dynamic_partitions(scan_batches.name)) - done)
    if not pending:
        return dg.SkipReason("every scan batch has been processed")
    return dg.SensorResult(run_requests=[dg.RunRequest(run_key=key, partition_key=key) for key in pending])


@dg.asset_sensor(
    asset_key=dg.AssetKey("genre_classifier"), job=predict_genres_job, default_status=dg.DefaultSensorStatus.RUNNING
)
def new_genre_model_sensor(context: dg.SensorEvaluationContext, asset_event: dg.EventLogEntry):
    """A retrained classifier re-predicts every batch so predictions all come from one model."""
    keys = context.instance.get_dynamic_partitions(scan_batches.name)
    for key in keys:
        yield dg.RunRequest(run_key=f"{key}@{asset_event.run_id}", partition_key=key)
