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
