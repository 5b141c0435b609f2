"""MLflow, called directly: experiments, runs tagged with their Dagster origin, registered models.

The champion of a registered model is the version carrying the ``champion`` alias; a newly
trained version takes it only when its held-out score is at least the current champion's.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import mlflow
import sklearn
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature

from melodex_ml.settings import MelodexSettings
from melodex_ml.training.genre import TrainedGenreModel

log = logging.getLogger(__name__)

CHAMPION = "champion"
SELECTION_METRIC = "track_macro_f1"


@dataclass(frozen=True)
class RegisteredVersion:
    name: str
    version: str
    run_id: str
    is_champion: bool


def use_store(settings: MelodexSettings) -> str:
    """Point mlflow at the configured store and make sure the experiment exists; returns its id."""
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    client = MlflowClient()
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
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=dict(tags or {})) as run:
        yield run


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
    client = MlflowClient()
    version = str(info.registered_model_version)
    current = champion_score(client, settings.genre_model_name)
    new_score = trained.metrics[SELECTION_METRIC]
    is_champion = current is None or new_score >= current
    if is_champion:
        client.set_registered_model_alias(settings.genre_model_name, CHAMPION, version)
    log.info("registered %s v%s (%s=%.3f, champion=%s)", settings.genre_model_name, version, SELECTION_METRIC, new_score, is_champion)
    return RegisteredVersion(settings.genre_model_name, version, mlflow.active_run().info.run_id, is_champion)


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
