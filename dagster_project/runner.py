"""Materialize the whole asset graph in-process against the instance under MELODEX_HOME.

This is what `melodex run` and `melodex demo` do; the Dagster daemon does the same through
the sensors and schedules when the project runs under `dagster dev`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import dagster as dg

from dagster_project.definitions import build_definitions
from dagster_project.instance import ensure_instance
from melodex_assets.partitions import scan_batches
from melodex_ml import tracking
from melodex_ml.settings import get_settings

BATCH_STAGE_ASSETS = [dg.AssetKey(k) for k in ("track_stems", "track_features", "track_embeddings")]
PREDICTIONS = dg.AssetKey("genre_predictions")
# Step-by-step DEBUG events stay in the instance (and the UI); the terminal shows INFO and up.
QUIET = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


@dataclass
class RunSummary:
    scanned_batches: list[str] = field(default_factory=list)
    processed_batches: list[str] = field(default_factory=list)
    failed_runs: list[str] = field(default_factory=list)
    trained: bool = False
    predicted_batches: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed_runs


def pending_batches(instance: dg.DagsterInstance, asset: dg.AssetKey) -> list[str]:
    done = instance.get_materialized_partitions(asset)
    return sorted(set(instance.get_dynamic_partitions(scan_batches.name)) - done)


def materialize_all(*, retrain: bool | None = None, echo: Callable[[str], None] = print) -> RunSummary:
    """Scan, catalog, process every pending batch (one run each), train if anything changed, predict.

    ``retrain`` None trains when new features arrived or no champion model exists yet.
    """
    settings = get_settings()
    instance = ensure_instance(settings)
    defs = build_definitions()
    summary = RunSummary()

    def execute(job_name: str, label: str, **kwargs) -> bool:
        echo(f"▶ {label}")
        result = defs.resolve_job_def(job_name).execute_in_process(
            instance=instance, raise_on_error=False, run_config=QUIET, **kwargs
        )
        if not result.success:
            summary.failed_runs.append(f"{label} (run {result.run_id})")
            echo(f"✗ {label} failed: see run {result.run_id} in the Dagster UI or `melodex status`")
        return result.success

    execute("library_scan_job", "scan library")
    execute("dataset_catalog_job", "dataset catalog and caption embeddings")
    for batch in pending_batches(instance, dg.AssetKey("track_features")):
        if execute("process_scan_batch_job", f"batch {batch}: stems, features, embeddings",
                   partition_key=batch, asset_selection=BATCH_STAGE_ASSETS):
            summary.processed_batches.append(batch)

    if retrain is None:
        retrain = bool(summary.processed_batches) or tracking.champion_version(settings) is None
    if retrain:
        summary.trained = execute("train_genre_classifier_job", "train genre classifier")

    to_predict = (
        sorted(instance.get_dynamic_partitions(scan_batches.name)) if summary.trained
        else pending_batches(instance, PREDICTIONS)
    )
    for batch in to_predict:
        if execute("predict_genres_job", f"batch {batch}: genre predictions", partition_key=batch):
            summary.predicted_batches.append(batch)
    return summary

