"""Candidates in MLflow: one run each, registered as versions; the champion loaded back as a model.

Each candidate's run logs its params (sizes included: counts are params, not metrics), one
metric point per epoch (``step=epoch``), the test metrics of the shared split, per-class metrics,
a confusion-matrix image and a per-class report, the split (hash, track ids) as the run's
dataset, the code version and the caller's tags (the Dagster run id); the model is a pyfunc
with a signature and an input example, registered as a new version of the task's model.

Which version is the champion, and the comparison of the candidates: :mod:`melodex_ml.registry`.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature

from melodex_ml import tracking
from melodex_ml.experiment_artifacts import code_version, confusion_figure, curves_figure, run_params
from melodex_ml.models.cache import ModelCache
from melodex_ml.models.genre_model import GenreModel
from melodex_ml.models.projection import ProjectionModel
from melodex_ml.models.pyfunc import (
    ARTIFACT_KEY,
    PROJECTION_KEY,
    GenreModelPyfunc,
    ProjectionPyfunc,
    pip_requirements,
    pip_requirements_for,
    unwrap_genre_model,
)
from melodex_ml.registry import (
    CHAMPION,
    NOTE,
    SELECTION_METRIC,
    TAG_CANDIDATE,
    TAG_METRIC,
    TAG_SCORE,
    TAG_SPLIT,
    TAG_TASK,
    ensure_experiment,
    registered_name,
)
from melodex_ml.settings import MelodexSettings
from melodex_ml.training.candidate import CandidateResult
from melodex_ml.training.projection import ProjectionResult
from melodex_ml.training.tasks import GENRE, TEXT_PROJECTION

log = logging.getLogger(__name__)

PROJECTION_METRIC = "test_recall_at_10"


def logged_model_name(candidate: str) -> str:
    """The candidate's name for its logged model (MLflow refuses / : . % and quotes in it), so the
    experiment's model list says which model each is instead of "model" seven times."""
    return "".join("-" if char in "/:.%\"'" else char for char in candidate)


@dataclass(frozen=True)
class LoggedCandidate:
    task: str
    candidate: str
    name: str  # registered model
    version: str
    run_id: str
    split_hash: str
    metric: str
    score: float






@dataclass(frozen=True)
class LoadedChampion:
    model: GenreModel
    name: str
    version: str
    run_id: str
    candidate: str
    split_hash: str






def log_candidate(
    result: CandidateResult,
    settings: MelodexSettings,
    *,
    tags: Mapping[str, str] | None = None,
    metric: str = SELECTION_METRIC,
) -> LoggedCandidate:
    """Log ``result`` into the active run (or a new one named after the candidate) and register it."""
    ensure_experiment(settings)
    if mlflow.active_run() is not None:
        return _log_into_active_run(result, settings, tags or {}, metric)
    with tracking.start_run(settings, result.candidate, tags=tags, started_at=result.started_at):
        return _log_into_active_run(result, settings, {}, metric)


def _log_into_active_run(
    result: CandidateResult, settings: MelodexSettings, tags: Mapping[str, str], metric: str
) -> LoggedCandidate:
    split, evaluation = result.split, result.evaluation
    metrics = result.metrics()
    if metric not in metrics:
        raise KeyError(f"selection metric {metric!r} is not among the candidate's metrics: {sorted(metrics)}")
    mlflow.set_tags({**tags, **code_version(), TAG_TASK: result.task, TAG_CANDIDATE: result.candidate,
                     TAG_SPLIT: split.split_hash, "melodex.selection_metric": metric})  # fmt: skip
    mlflow.log_params(run_params(result))
    mlflow.set_tag(NOTE, "\n".join(result.notes))  # the run's description in the MLflow UI
    for record in result.history:
        mlflow.log_metrics(record.metrics(), step=record.epoch, timestamp=round(record.ended_at * 1000))
    mlflow.log_metrics(metrics)
    mlflow.log_figure(confusion_figure(evaluation), "evaluation/confusion_matrix.png")
    if result.history:
        mlflow.log_figure(curves_figure(result.history, result.best_epoch), "evaluation/training_curves.png")
    mlflow.log_dict({"labels": list(evaluation.labels), "confusion": [list(r) for r in evaluation.confusion],
                     "rows": "truth", "columns": "prediction"}, "evaluation/confusion_matrix.json")  # fmt: skip
    mlflow.log_dict(evaluation.per_class_dict(), "evaluation/per_class.json")
    mlflow.log_text(evaluation.report_text, "evaluation/classification_report.txt")
    mlflow.log_dict(evaluation.track_predictions, "evaluation/test_predictions.json")
    mlflow.log_text("\n".join(result.notes) + "\n", "notes.txt")
    mlflow.log_dict(split.as_dict(), "data/split.json")
    mlflow.log_dict(_label_report(result), "data/labels.json")
    for name, text in result.extra_artifacts.items():
        mlflow.log_text(text, name)
    frame = pd.DataFrame(
        [(t, result.taxonomy.track_labels[t], side) for side, ids in (("train", split.train_track_ids),
                                                                      ("test", split.test_track_ids)) for t in ids],
        columns=["track_id", "label", "side"],
    )  # fmt: skip
    mlflow.log_input(mlflow.data.from_pandas(frame, name=f"{result.task}-split", targets="label",
                                             digest=split.split_hash), context="evaluation")  # fmt: skip

    name = registered_name(settings, result.task)
    model = result.model
    with tempfile.TemporaryDirectory(prefix="melodex-model-") as tmp:
        folder = model.save(Path(tmp) / "genre_model")
        example = result.input_example
        info = mlflow.pyfunc.log_model(
            name=logged_model_name(result.candidate),
            python_model=GenreModelPyfunc(),
            artifacts={ARTIFACT_KEY: str(folder)},
            registered_model_name=name,
            signature=infer_signature(example, _example_output(model, example)),
            input_example=example,
            pip_requirements=pip_requirements(model),
            metadata={**model.card.to_json(), "split_hash": split.split_hash},
        )
    return _tag_version(name, str(info.registered_model_version), result.task, result.candidate, split.split_hash,
                        metric, float(metrics[metric]))  # fmt: skip


def _tag_version(name: str, version: str, task: str, candidate: str, split: str, metric: str,
                 score: float) -> LoggedCandidate:  # fmt: skip
    """Version tags carry what the champion choice compares, so it needs no run lookups."""
    client = MlflowClient()
    for key, value in {TAG_TASK: task, TAG_CANDIDATE: candidate, TAG_SPLIT: split, TAG_SCORE: repr(score),
                       TAG_METRIC: metric}.items():  # fmt: skip
        client.set_model_version_tag(name, version, key, value)
    client.update_model_version(name, version, description=f"{candidate}: {metric} {score:.4f} on split {split}")
    run_id = mlflow.active_run().info.run_id
    log.info("logged %s as %s v%s (%s=%.3f, split %s)", candidate, name, version, metric, score, split)
    return LoggedCandidate(task, candidate, name, version, run_id, split, metric, score)


def log_projection(
    result: ProjectionResult, settings: MelodexSettings, *, tags: Mapping[str, str] | None = None,
    metric: str = PROJECTION_METRIC, extra_metrics: Mapping[str, float] | None = None,
) -> LoggedCandidate:  # fmt: skip
    """Log the text-to-music projection like a candidate (task ``text-projection``) and register it;
    ``extra_metrics`` (the zero-shot baseline on the same held-out queries) go into the same run."""
    ensure_experiment(settings)
    if mlflow.active_run() is None:
        with tracking.start_run(settings, "text-projection", tags=tags, started_at=result.started_at):
            return log_projection(result, settings, metric=metric, extra_metrics=extra_metrics)
    if extra_metrics:
        mlflow.log_metrics(dict(extra_metrics))
    mlflow.set_tags({**(tags or {}), **code_version(), TAG_TASK: TEXT_PROJECTION, TAG_CANDIDATE: "projection",
                     TAG_SPLIT: result.split_hash, "melodex.selection_metric": metric})  # fmt: skip
    mlflow.log_params({k: str(v) for k, v in {**result.params, **result.counts, "split_hash": result.split_hash,
                                               "best_epoch": result.best_epoch}.items()})  # fmt: skip
    for record in result.history:
        mlflow.log_metrics(record.metrics(), step=record.epoch, timestamp=round(record.ended_at * 1000))
    metrics = result.retrieval.metrics() | {"train_seconds": result.train_seconds}
    mlflow.log_metrics(metrics)
    mlflow.log_figure(curves_figure(result.history, result.best_epoch), "evaluation/training_curves.png")
    mlflow.log_dict({"train": list(result.train_track_ids), "test": list(result.test_track_ids),
                     "split_hash": result.split_hash}, "data/split.json")  # fmt: skip
    name = registered_name(settings, TEXT_PROJECTION)
    example = np.zeros((1, result.model.card.text_dim), np.float32)
    with tempfile.TemporaryDirectory(prefix="melodex-projection-") as tmp:
        folder = result.model.save(Path(tmp) / "projection")
        info = mlflow.pyfunc.log_model(
            name=logged_model_name(TEXT_PROJECTION), python_model=ProjectionPyfunc(), artifacts={PROJECTION_KEY: str(folder)},
            registered_model_name=name, signature=infer_signature(example, result.model.project_text(example)),
            input_example=example, pip_requirements=pip_requirements_for(["numpy", "pandas", "torch"]),
            metadata=vars(result.model.card),
        )  # fmt: skip
    return _tag_version(name, str(info.registered_model_version), TEXT_PROJECTION, "projection", result.split_hash,
                        metric, float(metrics[metric]))  # fmt: skip




def load_projection(settings: MelodexSettings, alias: str = CHAMPION) -> tuple[ProjectionModel, str]:
    """(the projection holding ``alias``, its version); tracking.NoRegisteredModel when there is none."""
    tracking.use_store(settings)
    name = registered_name(settings, TEXT_PROJECTION)
    try:
        version = MlflowClient().get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        raise tracking.NoRegisteredModel(f"no '{alias}' version of {name}: train the projection first") from exc
    loaded = mlflow.pyfunc.load_model(f"models:/{name}/{version.version}").unwrap_python_model()
    return loaded.model, str(version.version)


def _example_output(model: GenreModel, example: object) -> pd.DataFrame:
    pyfunc = GenreModelPyfunc()
    pyfunc.model = model
    return pyfunc.predict(None, example)


def _label_report(result: CandidateResult) -> dict[str, object]:
    report = result.taxonomy.report
    return {"labels": list(result.taxonomy.labels), "counts": report.counts, "field": report.field,
            "merges": [vars(m) | {"spellings": list(m.spellings)} for m in report.merges], "rare": report.rare,
            "excluded": report.excluded, "single_artist": list(report.single_artist),
            "lines": report.lines()}  # fmt: skip




















def load_champion(
    settings: MelodexSettings, task: str = GENRE, alias: str = CHAMPION, *, cache: ModelCache | None = None
) -> LoadedChampion:
    """The GenreModel holding ``alias``; tracking.NoRegisteredModel when there is none. With a
    ``cache``, each registered version is loaded once per process."""
    tracking.use_store(settings)
    client, name = MlflowClient(), registered_name(settings, task)
    try:
        version = client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        raise tracking.NoRegisteredModel(
            f"no '{alias}' version of {name} in {settings.mlflow_tracking_uri}; train the {task} models first"
        ) from exc

    def load() -> GenreModel:
        return unwrap_genre_model(mlflow.pyfunc.load_model(f"models:/{name}/{version.version}"))

    model = load() if cache is None else cache.get(f"genre-model:{name}@{version.version}", load)
    return LoadedChampion(model, name, str(version.version), version.run_id, version.tags.get(TAG_CANDIDATE, ""),
                          version.tags.get(TAG_SPLIT, ""))  # fmt: skip
