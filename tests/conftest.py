import os

# Quiet TensorFlow (inside essentia-tensorflow) before anything imports it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest


@pytest.fixture
def melodex_home(tmp_path, monkeypatch):
    """A fresh MELODEX_HOME (DuckDB, MLflow, Dagster) for one test."""
    home = tmp_path / "home"
    monkeypatch.setenv("MELODEX_HOME", str(home))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MELODEX_LIBRARY_ROOTS", raising=False)
    return home


def pytest_collection_modifyitems(config, items):
    """Files with slow tests first: pytest-xdist hands each worker whole files in this order, and a
    long file that starts last decides when the run ends."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)
