"""Candidates in MLflow: one run each, registered versions, the champion, the comparison table.

Each candidate's run logs its params (sizes included: counts are params, not metrics), one
metric point per epoch (``step=epoch``), the test metrics of the shared split, per-class metrics,
a confusion-matrix image and a per-class report, the split (hash, track ids) as the run's
dataset, the code version and the caller's tags (the Dagster run id); the model is a pyfunc
with a signature and an input example, registered as a new version of the task's model.

The ``champion`` alias goes to the best version by a declared metric (test macro F1 by
default) *among versions scored on the same split*. A retrain that is not strictly better
leaves the alias where it is; when the data changed (a new split), the champion's score is no
longer comparable and the best of the new split takes over. The registry keeps every version.
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
from melodex_ml.settings import MelodexSettings
from melodex_ml.training.candidate import CandidateResult
from melodex_ml.training.projection import TASK as PROJECTION_TASK
from melodex_ml.training.projection import ProjectionResult

log = logging.getLogger(__name__)

CHAMPION = tracking.CHAMPION
SELECTION_METRIC = "test_macro_f1"
PROJECTION_METRIC = "test_recall_at_10"
EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")  # the UI opens on the runs
TAG_TASK, TAG_CANDIDATE, TAG_SPLIT, TAG_SCORE = (
    "melodex.task",
    "melodex.candidate",
    "melodex.split_hash",
    "melodex.score",
)


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
class ChampionDecision:
    name: str
    champion: str | None  # version holding the alias afterwards
    previous: str | None
    moved: bool
    reason: str


@dataclass(frozen=True)
class CandidateRow:
    candidate: str
    version: str
    run_id: str
    accuracy: float
    macro_f1: float
    train_seconds: float
    n_test_tracks: int
    split_hash: str
    champion: bool


@dataclass(frozen=True)
class LoadedChampion:
    model: GenreModel
    name: str
    version: str
    run_id: str
    candidate: str
    split_hash: str


def registered_name(settings: MelodexSettings, task: str) -> str:
    if task == "genre":
        return settings.genre_model_name
    return "melodex-text-projection" if task == PROJECTION_TASK else f"melodex-{task}-classifier"


def ensure_experiment(settings: MelodexSettings) -> str:
    """The experiment id, created if needed and marked as model development (runs, not traces)."""
    experiment_id = tracking.use_store(settings)
    client = MlflowClient()
    key, value = EXPERIMENT_KIND
    if client.get_experiment(experiment_id).tags.get(key) != value:
        client.set_experiment_tag(experiment_id, key, value)
    return experiment_id


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
    with tracking.start_run(settings, result.candidate, tags=tags):
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
    for record in result.history:
        mlflow.log_metrics(record.metrics(), step=record.epoch)
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
            name="model",
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
                       "melodex.metric": metric}.items():  # fmt: skip
        client.set_model_version_tag(name, version, key, value)
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
        with tracking.start_run(settings, "text-projection", tags=tags):
            return log_projection(result, settings, metric=metric, extra_metrics=extra_metrics)
    if extra_metrics:
        mlflow.log_metrics(dict(extra_metrics))
    mlflow.set_tags({**(tags or {}), **code_version(), TAG_TASK: PROJECTION_TASK, TAG_CANDIDATE: "projection",
                     TAG_SPLIT: result.split_hash, "melodex.selection_metric": metric})  # fmt: skip
    mlflow.log_params({k: str(v) for k, v in {**result.params, **result.counts, "split_hash": result.split_hash,
                                               "best_epoch": result.best_epoch}.items()})  # fmt: skip
    for record in result.history:
        mlflow.log_metrics(record.metrics(), step=record.epoch)
    metrics = result.retrieval.metrics() | {"train_seconds": result.train_seconds}
    mlflow.log_metrics(metrics)
    mlflow.log_figure(curves_figure(result.history, result.best_epoch), "evaluation/training_curves.png")
    mlflow.log_dict({"train": list(result.train_track_ids), "test": list(result.test_track_ids),
                     "split_hash": result.split_hash}, "data/split.json")  # fmt: skip
    name = registered_name(settings, PROJECTION_TASK)
    example = np.zeros((1, result.model.card.text_dim), np.float32)
    with tempfile.TemporaryDirectory(prefix="melodex-projection-") as tmp:
        folder = result.model.save(Path(tmp) / "projection")
        info = mlflow.pyfunc.log_model(
            name="model", python_model=ProjectionPyfunc(), artifacts={PROJECTION_KEY: str(folder)},
            registered_model_name=name, signature=infer_signature(example, result.model.project_text(example)),
            input_example=example, pip_requirements=pip_requirements_for(["numpy", "pandas", "torch"]),
            metadata=vars(result.model.card),
        )  # fmt: skip
    return _tag_version(name, str(info.registered_model_version), PROJECTION_TASK, "projection", result.split_hash,
                        metric, float(metrics[metric]))  # fmt: skip


def set_projection_champion(settings: MelodexSettings, version: str | None) -> str:
    """Give the projection's alias to ``version``, or (None: it does not beat zero-shot search) take
    it away; returns what happened, in words."""
    client, name = MlflowClient(), registered_name(settings, PROJECTION_TASK)
    if version is not None:
        client.set_registered_model_alias(name, CHAMPION, version)
        return f"{name} v{version} answers `melodex search`: it retrieves better than the zero-shot tag search"
    if _champion(client, name) is not None:
        client.delete_registered_model_alias(name, CHAMPION)
    return "the zero-shot tag search answers `melodex search`: no projection retrieves better on held-out tracks"


def load_projection(settings: MelodexSettings, alias: str = CHAMPION) -> tuple[ProjectionModel, str]:
    """(the projection holding ``alias``, its version); tracking.NoRegisteredModel when there is none."""
    tracking.use_store(settings)
    name = registered_name(settings, PROJECTION_TASK)
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


def _versions(client: MlflowClient, name: str) -> list:
    try:
        return list(client.search_model_versions(f"name = '{name}'"))
    except MlflowException:
        return []


def _champion(client: MlflowClient, name: str):
    try:
        return client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None


def _score(version) -> float | None:
    value = version.tags.get(TAG_SCORE)
    return float(value) if value is not None else None


def promote_champion(
    settings: MelodexSettings, task: str = "genre", *, split_hash: str | None = None, metric: str = SELECTION_METRIC
) -> ChampionDecision:
    """Give the alias to the best version on ``split_hash`` (default: the newest version's split)."""
    ensure_experiment(settings)
    client, name = MlflowClient(), registered_name(settings, task)
    versions = [v for v in _versions(client, name) if v.tags.get("melodex.metric") == metric and _score(v) is not None]
    if not versions:
        return ChampionDecision(name, None, None, False, f"no version of {name} carries a {metric} score yet")
    if split_hash is None:
        split_hash = max(versions, key=lambda v: int(v.version)).tags[TAG_SPLIT]
    on_split = [v for v in versions if v.tags.get(TAG_SPLIT) == split_hash]
    if not on_split:
        raise LookupError(f"no version of {name} was scored on split {split_hash}")
    best = max(on_split, key=lambda v: (_score(v), -int(v.version)))  # ties: the earliest version
    current = _champion(client, name)
    previous = str(current.version) if current else None
    if (
        current is not None
        and current.tags.get(TAG_SPLIT) == split_hash
        and current.tags.get("melodex.metric") == metric
    ):
        if _score(best) <= _score(current):
            reason = (f"v{previous} stays champion: {metric} {_score(current):.4f} on split {split_hash}; "
                      f"the best other version scores {_score(best):.4f}")  # fmt: skip
            return ChampionDecision(name, previous, previous, False, reason)
        reason = (f"v{best.version} beats v{previous} on split {split_hash}: "
                  f"{metric} {_score(best):.4f} > {_score(current):.4f}")  # fmt: skip
    elif current is not None:
        reason = (f"v{best.version} ({best.tags.get(TAG_CANDIDATE)}, {metric} {_score(best):.4f}) "
                  f"replaces v{previous}, "
                  f"which was scored on another split: the data changed, so the scores are not comparable")  # fmt: skip
    else:
        reason = f"v{best.version} ({best.tags.get(TAG_CANDIDATE)}) is the first champion: {metric} {_score(best):.4f}"
    client.set_registered_model_alias(name, CHAMPION, str(best.version))
    log.info("champion of %s: %s", name, reason)
    return ChampionDecision(name, str(best.version), previous, str(best.version) != previous, reason)


@dataclass(frozen=True)
class ChampionInfo:
    name: str
    version: str
    candidate: str
    split_hash: str
    score: float | None  # its SELECTION_METRIC on its split

    @property
    def identity(self) -> str:
        """``<registered model>@<version>``: the data version of the genre_classifier asset."""
        return f"{self.name}@{self.version}"


def champion_score(settings: MelodexSettings, task: str = "genre") -> ChampionInfo | None:
    """The version holding the alias and its held-out score, None when there is no champion."""
    tracking.use_store(settings)
    name = registered_name(settings, task)
    current = _champion(MlflowClient(), name)
    if current is None:
        return None
    return ChampionInfo(name, str(current.version), current.tags.get(TAG_CANDIDATE, ""),
                        current.tags.get(TAG_SPLIT, ""), _score(current))  # fmt: skip


def repair_champion(settings: MelodexSettings, task: str = "genre") -> str | None:
    """Apply the champion rule to the newest split, as the champion stage would: a process killed
    after registering candidates and before choosing among them leaves the alias behind."""
    tracking.use_store(settings)
    if not _versions(MlflowClient(), registered_name(settings, task)):
        return None
    return promote_champion(settings, task).champion


def compare_candidates(
    settings: MelodexSettings, task: str = "genre", *, split_hash: str | None = None
) -> list[CandidateRow]:
    """The newest version of each candidate on ``split_hash`` (default: the champion's, else the newest split)."""
    ensure_experiment(settings)
    client, name = MlflowClient(), registered_name(settings, task)
    versions = [v for v in _versions(client, name) if v.tags.get(TAG_SPLIT)]
    if not versions:
        return []
    current = _champion(client, name)
    if split_hash is None:
        newest = max(versions, key=lambda v: int(v.version))
        split_hash = (current.tags.get(TAG_SPLIT) if current else None) or newest.tags[TAG_SPLIT]
    latest: dict[str, object] = {}
    for v in sorted((v for v in versions if v.tags.get(TAG_SPLIT) == split_hash), key=lambda v: int(v.version)):
        latest[v.tags.get(TAG_CANDIDATE, "?")] = v
    rows = []
    for candidate, v in latest.items():
        data = client.get_run(v.run_id).data
        rows.append(CandidateRow(
            candidate=candidate, version=str(v.version), run_id=v.run_id,
            accuracy=data.metrics.get("test_accuracy", float("nan")),
            macro_f1=data.metrics.get("test_macro_f1", float("nan")),
            train_seconds=data.metrics.get("train_seconds", float("nan")),
            n_test_tracks=int(data.params.get("n_test_tracks", 0)), split_hash=split_hash,
            champion=current is not None and str(current.version) == str(v.version),
        ))  # fmt: skip
    return sorted(rows, key=lambda r: (-r.macro_f1, r.candidate))


def format_comparison(rows: list[CandidateRow]) -> str:
    if not rows:
        return "no candidates registered yet"
    header = f"{'candidate':<40} {'version':>7} {'accuracy':>9} {'macro F1':>9} {'train s':>8}  champion"
    lines = [f"split {rows[0].split_hash}, {rows[0].n_test_tracks} test tracks", header]
    lines += [f"{r.candidate:<40} {r.version:>7} {r.accuracy:>9.3f} {r.macro_f1:>9.3f} {r.train_seconds:>8.1f}  "
              f"{'*' if r.champion else ''}" for r in rows]  # fmt: skip
    return "\n".join(lines)


def load_champion(
    settings: MelodexSettings, task: str = "genre", alias: str = CHAMPION, *, cache: ModelCache | None = None
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
