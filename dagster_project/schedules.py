import dagster as dg

from dagster_project.jobs import library_scan_job, train_genre_classifier_job
from melodex_ml.settings import get_settings

library_scan_schedule = dg.ScheduleDefinition(
    name="library_scan_schedule",
    job=library_scan_job,
    cron_schedule=get_settings().scan_cron,
    description="Rescan the library (MELODEX_SCAN_CRON, hourly by default).",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)

genre_training_schedule = dg.ScheduleDefinition(
    name="genre_training_schedule",
    job=train_genre_classifier_job,
    cron_schedule=get_settings().train_cron,
    description="Retrain the genre classifier on everything stored so far (MELODEX_TRAIN_CRON, daily by default).",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
