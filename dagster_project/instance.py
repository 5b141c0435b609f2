"""The Dagster instance under MELODEX_HOME: SQLite storage, concurrency pools, run monitoring."""

from __future__ import annotations

import dagster as dg
import yaml
from filelock import FileLock

from melodex_ml.settings import MelodexSettings


def console_log(level: str = "INFO") -> dict:
    """Run config for the terminal's logger; every event is recorded in the instance (and the UI) anyway."""
    return {"loggers": {"console": {"config": {"log_level": level}}}}


# A run that crashed (not one whose step failed: steps carry their own RetryPolicy) is relaunched
# once: by the daemon under `melodex ui`, by `melodex run` itself for its in-process runs.
RUN_RETRIES = {"enabled": True, "max_retries": 1, "retry_on_asset_or_op_failure": False}

# Step-by-step DEBUG events stay in the instance (and the UI); the terminal shows INFO and up.
QUIET = console_log("INFO")


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
        # The daemon marks runs whose process died (kill -9, OOM) as failed instead of leaving them STARTED.
        "run_monitoring": {"enabled": True, "start_timeout_seconds": 180, "poll_interval_seconds": 60},
        "run_retries": RUN_RETRIES,
        "telemetry": {"enabled": False},
    }


# Opening an instance creates its SQLite schemas when they are missing, and two processes doing
# that at once on a fresh home fail with "table runs already exists": the first opens take turns,
# and a marker written after a complete first open lets every later one skip the lock.
INIT_LOCK, INITIALIZED = ".instance-init.lock", ".instance-initialized"


def ensure_instance(settings: MelodexSettings) -> dg.DagsterInstance:
    """Write dagster.yaml (ours: rewritten when this code wants another one) and open the instance."""
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    if not (home / INITIALIZED).exists():
        with FileLock(home / INIT_LOCK):
            instance = open_instance(settings)
            (home / INITIALIZED).touch()
            return instance
    return open_instance(settings)


def open_instance(settings: MelodexSettings) -> dg.DagsterInstance:
    home = settings.dagster_home
    config_path = home / "dagster.yaml"
    wanted = yaml.safe_dump(instance_config(settings), sort_keys=False)
    if not config_path.exists() or config_path.read_text() != wanted:
        config_path.write_text(wanted)
    return dg.DagsterInstance.from_config(str(home))
