"""Sensors: notice library changes, hand new scan batches downstream, re-predict after retraining."""

import dagster as dg

from dagster_project.jobs import library_scan_job, predict_genres_job, process_scan_batch_job
from melodex_assets.partitions import scan_batches
from melodex_ml.catalog.fingerprint import library_fingerprint
from melodex_ml.settings import get_settings

_settings = get_settings()
MAX_ATTEMPTS = 3


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
    model once for all the batch's tracks. A batch whose run failed is tried again, at most
    MAX_ATTEMPTS times in all (the run key counts the failures, so each attempt happens once)."""
    done = context.instance.get_materialized_partitions(dg.AssetKey("track_features"))
    pending = sorted(set(context.instance.get_dynamic_partitions(scan_batches.name)) - done)
    requests = []
    for key in pending:
        failures = context.instance.get_runs_count(
            dg.RunsFilter(
                job_name=process_scan_batch_job.name,
                statuses=[dg.DagsterRunStatus.FAILURE],
                tags={"dagster/partition": key},
            )
        )
        if failures < MAX_ATTEMPTS:
            requests.append(dg.RunRequest(run_key=f"{key}#{failures}", partition_key=key))
    if not requests:
        return dg.SkipReason("every scan batch has been processed or has failed its attempts")
    return dg.SensorResult(run_requests=requests)


@dg.asset_sensor(
    asset_key=dg.AssetKey("genre_classifier"), job=predict_genres_job, default_status=dg.DefaultSensorStatus.RUNNING
)
def new_genre_model_sensor(context: dg.SensorEvaluationContext, asset_event: dg.EventLogEntry):
    """A retrained classifier re-predicts every batch so predictions all come from one model."""
    keys = context.instance.get_dynamic_partitions(scan_batches.name)
    for key in keys:
        yield dg.RunRequest(run_key=f"{key}@{asset_event.run_id}", partition_key=key)
