"""Several processes starting MLflow runs at once on a fresh MELODEX_HOME: all succeed, and so do later runs.

Before the init lock, two processes creating MLflow's sqlite schema at the same time failed with
alembic errors ("duplicate column name: step", "Online migration expected to match one row") and
could leave the schema unusable.
"""

from __future__ import annotations

import multiprocessing as mp


def _log_a_run(home: str, barrier, name: str, queue) -> None:
    import os

    os.environ.pop("MLFLOW_TRACKING_URI", None)
    import mlflow

    from melodex_ml import tracking
    from melodex_ml.settings import MelodexSettings

    settings = MelodexSettings(home=home)
    if barrier is not None:
        barrier.wait(300)  # every process has imported mlflow: now all at once
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
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_log_a_run, args=(home, barrier, f"run{i}", queue)) for i in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(300)
    results = dict(queue.get(timeout=5) for _ in procs)
    assert results == {"run0": "ok", "run1": "ok"}

    _log_a_run(home, None, "later", queue)  # and a run after them, in this process
    assert queue.get(timeout=5) == ("later", "ok")

    from mlflow import MlflowClient

    from melodex_ml import tracking
    from melodex_ml.settings import MelodexSettings

    experiment = tracking.use_store(MelodexSettings(home=home))
    runs = MlflowClient().search_runs([experiment])
    assert sorted((r.info.run_name, r.info.status, r.data.metrics["x"]) for r in runs) == [
        ("later", "FINISHED", 1.0), ("run0", "FINISHED", 1.0), ("run1", "FINISHED", 1.0)
    ]
