"""Turn a stage's report into Dagster events: a materialization, or an honest skip.

A stage that could not run (weights missing, not enough labels, an unusable device) is *not* a
materialization: the asset yields no output (the assets are declared ``output_required=False``),
logs the reason as a warning and records it as an AssetObservation with a ``skipped`` entry, so
the UI shows the partition as missing with the reason in its event log. ``stage_runs`` holds the
same reason for SQL and `melodex status`. Automation runs the stage again once the cause goes away
(see melodex_assets/automation.py).
"""


import time
from collections.abc import Callable, Iterator, Mapping

import dagster as dg

from melodex_ml.settings import MelodexSettings
from melodex_ml.stages.common import StageReport

SKIPPED = "skipped"
# Report keys rendered with a richer metadata type in the UI.
_PATH_KEYS = {"path", "stems_dir", "embeddings_path", "predictions_path"}


def metadata_values(report: StageReport, settings: MelodexSettings) -> dict[str, dg.MetadataValue]:
    values: dict[str, dg.MetadataValue] = {}
    for key, value in report.metadata.items():
        if value is None:
            continue
        if key == "summary":
            # A code block keeps the summary's line breaks and alignment in the UI.
            values[key] = dg.MetadataValue.md(f"```\n{value}\n```")
        elif key == "row_count":
            values["dagster/row_count"] = dg.MetadataValue.int(int(value))
        elif key in _PATH_KEYS:
            values[key] = dg.MetadataValue.path(str(value))
        elif key == "mlflow_run_id":
            values[key] = dg.MetadataValue.text(str(value))
            values["mlflow_run"] = dg.MetadataValue.url(mlflow_run_url(settings, str(value)))
        elif isinstance(value, bool):
            values[key] = dg.MetadataValue.bool(value)
        elif isinstance(value, int):
            values[key] = dg.MetadataValue.int(value)
        elif isinstance(value, float):
            values[key] = dg.MetadataValue.float(value)
        elif isinstance(value, (list, tuple)):
            values[key] = dg.MetadataValue.text(", ".join(map(str, value)) or "-")
        else:
            values[key] = dg.MetadataValue.text(str(value))
    return values


def mlflow_run_url(settings: MelodexSettings, run_id: str) -> str:
    """The run's page in the MLflow UI. MLflow 3's UI shows an experiment in its GenAI view unless the
    URL says machine learning, and its short /runs/<id> route drops that on the way."""
    from melodex_ml import tracking

    experiment_id = tracking.use_store(settings)  # the stage that reported the run has MLflow loaded
    return f"{settings.mlflow_ui_url.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}?workflowType=machine_learning"


def stage_events(
    context: dg.AssetExecutionContext,
    settings: MelodexSettings,
    run_stage: Callable[[], StageReport],
    *,
    extra: Callable[[], Mapping[str, float]] | None = None,
) -> Iterator[dg.MaterializeResult | dg.AssetObservation]:
    """Run the stage and yield its materialization, or its skip as an observation."""
    start = time.perf_counter()
    report = run_stage()
    seconds = round(time.perf_counter() - start, 3)
    if report.skipped:
        reason = report.outcome.detail or "no reason given"
        context.log.warning(f"{context.asset_key.to_user_string()} skipped, not materialized: {reason}")
        yield dg.AssetObservation(
            asset_key=context.asset_key,
            partition=context.partition_key if context.has_partition_key else None,
            metadata={SKIPPED: dg.MetadataValue.text(reason), "duration_s": dg.MetadataValue.float(seconds)},
        )
        return
    metadata = {
        **metadata_values(report, settings),
        "status": dg.MetadataValue.text(report.outcome.status),
        "duration_s": dg.MetadataValue.float(seconds),
        **{key: dg.MetadataValue.float(value) for key, value in (extra() if extra else {}).items()},
    }
    yield dg.MaterializeResult(
        metadata=metadata, data_version=dg.DataVersion(report.data_version) if report.data_version else None
    )
