"""The Dagster instance under MELODEX_HOME: SQLite storage and the concurrency pools."""

from __future__ import annotations

import os

import dagster as dg
import yaml

from melodex_ml.settings import MelodexSettings

# Step-by-step DEBUG events stay in the instance (and the UI); the terminal shows INFO and up.
QUIET = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


def instance_config(settings: MelodexSettings) -> dict:
    home = settings.dagster_home
    return {
        "storage": {"sqlite": {"base_dir": str(home / "storage")}},
        "local_artifact_storage": {
            "module": "dagster._core.storage.root",
            "class": "LocalArtifactStorage",
            "config": {"base_dir": str(home)},
        },
        "compute_logs": {
            "module": "dagster._core.storage.local_compute_log_manager",
            "class": "LocalComputeLogManager",
            "config": {"base_dir": str(home / "compute_logs")},
        },
        # Our pools (duckdb_writer, gpu) admit one step at a time across all runs.
        "concurrency": {"pools": {"default_limit": 1}, "runs": {"max_concurrent_runs": 4}},
        "telemetry": {"enabled": False},
    }


def ensure_instance(settings: MelodexSettings) -> dg.DagsterInstance:
    """Write dagster.yaml once, point DAGSTER_HOME at it and open the instance."""
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    config_path = home / "dagster.yaml"
    if not config_path.exists():
        config_path.write_text(yaml.safe_dump(instance_config(settings), sort_keys=False))
    os.environ["DAGSTER_HOME"] = str(home)
    return dg.DagsterInstance.get()
