"""Materialize the whole asset graph in-process against the instance under MELODEX_HOME.

This is what `melodex run` and `melodex demo` do; the Dagster daemon does the same through
the sensors and schedules when the project runs under `dagster dev`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import dagster as dg

from dagster_project.definitions import build_definitions
from dagster_project.instance import QUIET, ensure_instance
from melodex_assets.partitions import scan_batches
from melodex_ml import tracking
from melodex_ml.settings import get_settings

BATCH_STAGE_ASSETS = [dg.AssetKey(k) for k in ("track_stems", "track_features", "track_embeddings")]
PREDICTIONS = dg.AssetKey("genre_predictions")


@dataclass
class RunSummary:
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

    def execute(job_name: str, label: str, **kwargs) -> dg.ExecuteInProcessResult:
        echo(f"▶ {label}")
        result = defs.resolve_job_def(job_name).execute_in_process(
            instance=instance, raise_on_error=False, run_config=QUIET, **kwargs
        )
        if not result.success:
            summary.failed_runs.append(f"{label} (run {result.run_id})")
            echo(f"✗ {label} failed: see run {result.run_id} in the Dagster UI or `melodex status`")
        return result

    scan = execute("library_scan_job", "scan library")
    if library_changed(scan) or instance.get_latest_materialization_event(dg.AssetKey("dataset_catalog")) is None:
        execute("dataset_catalog_job", "dataset catalog and caption embeddings")
    for batch in pending_batches(instance, dg.AssetKey("track_features")):
        if execute("process_scan_batch_job", f"batch {batch}: stems, features, embeddings",
                   partition_key=batch, asset_selection=BATCH_STAGE_ASSETS).success:
            summary.processed_batches.append(batch)

    champion = tracking.champion_version(settings)
    if retrain is None:
        retrain = bool(summary.processed_batches) or champion is None
    if retrain:
        summary.trained = execute("train_genre_classifier_job", "train genre classifier").success

    # A new champion re-predicts every batch, so all predictions come from one model.
    new_champion = tracking.champion_version(settings) != champion
    to_predict = (
        sorted(instance.get_dynamic_partitions(scan_batches.name)) if new_champion
        else pending_batches(instance, PREDICTIONS)
    )
    for batch in to_predict:
        if execute("predict_genres_job", f"batch {batch}: genre predictions", partition_key=batch).success:
            summary.predicted_batches.append(batch)
    return summary


def library_changed(scan: dg.ExecuteInProcessResult) -> bool:
    """Whether the scan saw anything but unchanged files (or could not tell)."""
    events = scan.get_asset_materialization_events() if scan.success else []
    if not events:
        return True
    metadata = events[0].materialization.metadata
    return any(metadata[k].value for k in ("new", "changed", "moved", "retagged", "restored", "deleted") if k in metadata)

