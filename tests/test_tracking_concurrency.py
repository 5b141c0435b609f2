"""Several processes starting MLflow runs at once on a fresh MELODEX_HOME: all succeed, and so do later runs.

Before the init lock, two processes creating MLflow's sqlite schema at the same time failed with
alembic errors ("duplicate column name: step", "Online migration expected to match one row") and
could leave the schema unusable.
"""

from __future__ import annotations

import multiprocessing as mp
import time


def _log_a_run(home: str, start_at: float, name: str, queue) -> None:
    import os

    os.environ.pop("MLFLOW_TRACKING_URI", None)
    import mlflow

    from melodex_ml import tracking
    from melodex_ml.settings import MelodexSettings

    settings = MelodexSettings(home=home)
    while time.time() < start_at:
        time.sleep(0.001)
    try:
        with tracking.start_run(settings, name):
            mlflow.log_metric("x", 1.0)
        queue.put((name, "ok"))
    except Exception as exc:  # noqa: BLE001 -- reported to the test
        queue.put((name, f"{type(exc).__name__}: {exc}"))


def test_concurrent_first_runs_on_a_fresh_home_all_succeed(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    home = str(tmp_path / "home")
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    start_at = time.time() + 20  # after every interpreter has imported mlflow on 2 busy cores
    procs = [ctx.Process(target=_log_a_run, args=(home, start_at, f"run{i}", queue)) for i in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(300)
    results = dict(queue.get(timeout=5) for _ in procs)
    assert results == {f"run{i}": "ok" for i in range(3)}

    later = ctx.Process(target=_log_a_run, args=(home, 0.0, "later", queue))
    later.start()
    later.join(300)
    assert queue.get(timeout=5) == ("later", "ok")

    from mlflow import MlflowClient

    from melodex_ml import tracking
    from melodex_ml.settings import MelodexSettings

    experiment = tracking.use_store(MelodexSettings(home=home))
    runs = MlflowClient().search_runs([experiment])
    assert sorted((r.info.run_name, r.info.status, r.data.metrics["x"]) for r in runs) == [
        ("later", "FINISHED", 1.0), ("run0", "FINISHED", 1.0), ("run1", "FINISHED", 1.0), ("run2", "FINISHED", 1.0)
    ]
