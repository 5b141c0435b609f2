"""MLflow, called directly: experiments, runs tagged with their Dagster origin, registered models.

Candidates and registered versions are logged by :mod:`melodex_ml.experiments`; the ``champion``
alias and the comparison of candidates are :mod:`melodex_ml.registry`.

Runs are tagged with their process (``melodex.pid``, ``melodex.host``) so that one left RUNNING
by a killed process can be told from one still running: :func:`fail_orphaned_runs`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import mlflow
from filelock import FileLock
from mlflow import MlflowClient
from mlflow.utils.logging_utils import MLFLOW_LOGGING_STREAM

from melodex_ml.settings import MelodexSettings
from melodex_ml.store.files import ensure_folder
from melodex_ml.store.owners import Owner, host_name

log = logging.getLogger(__name__)

CHAMPION = "champion"
PID_TAG, HOST_TAG = "melodex.pid", "melodex.host"
# MLflow creates and migrates its sqlite schema (alembic) on a process's first call; two processes
# doing that at once on a fresh home break the schema for good. This lock makes them take turns.
INIT_LOCK = ".mlflow-init.lock"


def use_store(settings: MelodexSettings) -> str:
    """Point mlflow at the configured store and make sure the experiment exists; returns its id."""
    # MLflow prints its registration events ("Created version '3' of model ...") straight to its stream
    # rather than through its logger: they stay quiet when its logger is set above INFO (the CLI's
    # MLFLOW_LOGGING_LEVEL), like its other INFO events. (The stream carries its log records too.)
    MLFLOW_LOGGING_STREAM.enabled = logging.getLogger("mlflow").isEnabledFor(logging.INFO)
    user_choice = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    # MLflow also exports the URI as MLFLOW_TRACKING_URI for child processes. The variable must keep
    # meaning "the user chose a tracking server" (settings.mlflow_tracking_uri), not "the last
    # store this process used", so it goes back to what the user set.
    if user_choice is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = user_choice
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
def start_run(
    settings: MelodexSettings, run_name: str, tags: Mapping[str, str] | None = None, *, started_at: float | None = None
) -> Iterator[mlflow.ActiveRun]:
    """A run of the configured experiment; ``started_at`` (wall clock) backdates its start to when the
    work it records began, e.g. a training logged once it is over."""
    experiment_id = use_store(settings)
    tags = {**(tags or {}), PID_TAG: str(os.getpid()), HOST_TAG: host_name()}
    if started_at is None:
        with mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=tags) as run:
            yield run
        return
    created = MlflowClient().create_run(experiment_id, start_time=round(started_at * 1000), tags=tags, run_name=run_name)
    with mlflow.start_run(run_id=created.info.run_id) as run:
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


class NoRegisteredModel(LookupError):
    """No version of the model carries the requested alias yet."""
