"""MLflow, called directly: experiments, runs tagged with their Dagster origin, registered models.

The champion of a registered model is the version carrying the ``champion`` alias; a newly
trained version takes it only when its held-out score is at least the current champion's.
Registering a version and moving the alias are two calls: a crash between them leaves a version
that was never judged, and :func:`repair_champion` (the next run calls it) judges it.

Runs are tagged with their process (``melodex.pid``, ``melodex.host``) so that one left RUNNING
by a killed process can be told from one still running: :func:`fail_orphaned_runs`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import mlflow
import sklearn
from filelock import FileLock
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature

from melodex_ml.settings import MelodexSettings
from melodex_ml.store.files import ensure_folder
from melodex_ml.store.owners import Owner, host_name
from melodex_ml.training.genre import TrainedGenreModel

log = logging.getLogger(__name__)

CHAMPION = "champion"
SELECTION_METRIC = "track_macro_f1"
PID_TAG, HOST_TAG = "melodex.pid", "melodex.host"
# MLflow creates and migrates its sqlite schema (alembic) on a process's first call; two processes
# doing that at once on a fresh home break the schema for good. This lock makes them take turns.
INIT_LOCK = ".mlflow-init.lock"


@dataclass(frozen=True)
class RegisteredVersion:
    name: str
    version: str
    run_id: str
    is_champion: bool


def use_store(settings: MelodexSettings) -> str:
    """Point mlflow at the configured store and make sure the experiment exists; returns its id."""
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    with FileLock(ensure_folder(settings.home_dir) / INIT_LOCK, timeout=600):
        client = MlflowClient()
        # Opens (and on a fresh home creates) the tracking and registry schemas inside the lock.
        client.search_registered_models(max_results=1)
        experiment = client.get_experiment_by_name(settings.mlflow_experiment)
        if experiment is not None:
            return experiment.experiment_id
        artifacts = settings.mlflow_artifacts_dir
        artifacts.mkdir(parents=True, exist_ok=True)
        # Without an explicit location, file artifacts land in ./mlruns of whatever directory runs us.
        return client.create_experiment(settings.mlflow_experiment, artifact_location=artifacts.as_uri())


@contextmanager
def start_run(settings: MelodexSettings, run_name: str, tags: Mapping[str, str] | None = None) -> Iterator[mlflow.ActiveRun]:
    experiment_id = use_store(settings)
    owner = {PID_TAG: str(os.getpid()), HOST_TAG: host_name()}
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags={**(tags or {}), **owner}) as run:
        yield run


def fail_orphaned_runs(settings: MelodexSettings) -> list[str]:
    """Mark RUNNING runs whose process is gone (killed, crashed) as FAILED; returns their ids.

    Runs of another host, or without the process tags (not started by :func:`start_run`), are
    left alone: whether their process lives cannot be told from here.
    """
    use_store(settings)
    client = MlflowClient()
    experiment = client.get_experiment_by_name(settings.mlflow_experiment)
    if experiment is None:
        return []
    failed = []
    for run in client.search_runs([experiment.experiment_id], "attributes.status = 'RUNNING'", max_results=10_000):
        tags = run.data.tags
        if not tags.get(PID_TAG, "").isdigit() or HOST_TAG not in tags:
            continue
        owner = Owner(int(tags[PID_TAG]), tags[HOST_TAG])
        if owner.is_gone(run.info.start_time / 1000):
            client.set_tag(run.info.run_id, "melodex.interrupted", f"process {owner.pid} on {owner.host} ended")
            client.set_terminated(run.info.run_id, status="FAILED")
            failed.append(run.info.run_id)
    if failed:
        log.warning("marked %d interrupted MLflow run(s) as FAILED: %s", len(failed), ", ".join(failed))
    return failed


def champion_version(settings: MelodexSettings) -> str | None:
    use_store(settings)
    try:
        return str(MlflowClient().get_model_version_by_alias(settings.genre_model_name, CHAMPION).version)
    except MlflowException:
        return None


def champion_metric(settings: MelodexSettings) -> float | None:
    """The champion's held-out selection metric, None when there is no champion."""
    use_store(settings)
    return champion_score(MlflowClient(), settings.genre_model_name)


def champion_identity(settings: MelodexSettings) -> str | None:
    """``<registered model>@<champion version>``: the data version of the genre_classifier asset."""
    version = champion_version(settings)
    return None if version is None else f"{settings.genre_model_name}@{version}"


def champion_score(client: MlflowClient, name: str) -> float | None:
    try:
        version = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None
    return client.get_run(version.run_id).data.metrics.get(SELECTION_METRIC)


def log_genre_model(
    trained: TrainedGenreModel, settings: MelodexSettings, *, params: Mapping[str, object], example
) -> RegisteredVersion:
    """Log metrics, parameters and the model to the active run and register a new version."""
    mlflow.log_params(dict(params))
    mlflow.log_metrics(trained.metrics)
    mlflow.log_metrics({f"f1_{label}": f for label, f in trained.per_label_f1.items()})
    mlflow.log_dict(
        {"labels": trained.labels, "confusion": trained.confusion, "rows": "truth", "columns": "prediction"},
        "evaluation/confusion_matrix.json",
    )
    info = mlflow.sklearn.log_model(
        trained.pipeline,
        name="model",
        registered_model_name=settings.genre_model_name,
        signature=infer_signature(example, trained.pipeline.predict_proba(example)),
        pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
        metadata={"labels": trained.labels, "feature_names": trained.feature_names},
        # skops (MLflow's safe default) refuses numpy dtypes unless they are named as trusted.
        skops_trusted_types=["numpy.dtype"],
    )
    version = str(info.registered_model_version)
    new_score = trained.metrics[SELECTION_METRIC]
    is_champion = _elect_champion(MlflowClient(), settings.genre_model_name) == version
    log.info("registered %s v%s (%s=%.3f, champion=%s)", settings.genre_model_name, version, SELECTION_METRIC, new_score, is_champion)
    return RegisteredVersion(settings.genre_model_name, version, mlflow.active_run().info.run_id, is_champion)


def repair_champion(settings: MelodexSettings) -> str | None:
    """Judge versions registered after the champion that never were (a crash between registering
    and moving the alias), moving the alias as training would have; returns the champion version."""
    use_store(settings)
    return _elect_champion(MlflowClient(), settings.genre_model_name)


def _elect_champion(client: MlflowClient, name: str) -> str | None:
    """Apply the champion rule to every version newer than the champion, oldest first.

    The rule is the one training applies to each new version (its score is at least the
    champion's), so the outcome is what an uninterrupted sequence of trainings gives; versions
    older than the champion were judged already and are not reconsidered.
    """
    try:
        champion = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        champion = None
    best_version = int(champion.version) if champion is not None else 0
    best_score = client.get_run(champion.run_id).data.metrics.get(SELECTION_METRIC) if champion else None
    try:
        versions = client.search_model_versions(f"name = '{name}'")
    except MlflowException:
        return None  # no such registered model yet
    for candidate in sorted(versions, key=lambda v: int(v.version)):
        if int(candidate.version) <= best_version or candidate.status != "READY":
            continue
        score = client.get_run(candidate.run_id).data.metrics.get(SELECTION_METRIC)
        if score is not None and (best_score is None or score >= best_score):
            best_version, best_score = int(candidate.version), score
    if best_version and (champion is None or int(champion.version) != best_version):
        client.set_registered_model_alias(name, CHAMPION, str(best_version))
        log.info("champion of %s is now v%d (%s=%.3f)", name, best_version, SELECTION_METRIC, best_score)
    return str(best_version) if best_version else None


@dataclass(frozen=True)
class LoadedGenreModel:
    pipeline: object
    labels: list[str]
    feature_names: list[str]
    name: str
    version: str


class NoRegisteredModel(LookupError):
    """No version of the model carries the requested alias yet."""


def load_genre_model(settings: MelodexSettings, alias: str = CHAMPION) -> LoadedGenreModel:
    use_store(settings)
    client = MlflowClient()
    try:
        version = client.get_model_version_by_alias(settings.genre_model_name, alias)
    except MlflowException as exc:
        raise NoRegisteredModel(
            f"no '{alias}' version of {settings.genre_model_name} in {settings.mlflow_tracking_uri}; "
            "materialize the genre_classifier asset first"
        ) from exc
    uri = f"models:/{settings.genre_model_name}/{version.version}"
    metadata = mlflow.models.get_model_info(uri).metadata or {}
    return LoadedGenreModel(
        pipeline=mlflow.sklearn.load_model(uri),
        labels=list(metadata.get("labels", [])),
        feature_names=list(metadata.get("feature_names", [])),
        name=settings.genre_model_name,
        version=str(version.version),
    )
