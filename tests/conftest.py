import os

# Quiet TensorFlow (inside essentia-tensorflow) before anything imports it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest


@pytest.fixture(scope="session")
def encoder(tmp_path_factory):
    """The bundled sentence encoder (all-MiniLM-L6-v2), loaded offline once per test process."""
    import huggingface_hub.constants as hf_constants

    from melodex_ml.embeddings.text import TextEncoder
    from melodex_ml.models.cache import ModelCache
    from melodex_ml.settings import MelodexSettings

    settings = MelodexSettings(home=tmp_path_factory.mktemp("home"), text_encoder=None, device="cpu")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
        return TextEncoder.load(settings, cache=ModelCache())


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
