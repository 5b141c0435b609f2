import pytest
from pydantic import ValidationError

from melodex_ml.settings import MelodexSettings


def test_roots_split_on_pathsep_and_commas(monkeypatch, tmp_path):
    monkeypatch.setenv("MELODEX_LIBRARY_ROOTS", f"{tmp_path}/a:{tmp_path}/b, {tmp_path}/c")
    assert MelodexSettings().roots == [tmp_path / "a", tmp_path / "b", tmp_path / "c"]


def test_empty_roots_mean_the_demo_library(monkeypatch, tmp_path):
    monkeypatch.setenv("MELODEX_HOME", str(tmp_path))
    monkeypatch.delenv("MELODEX_LIBRARY_ROOTS", raising=False)
    settings = MelodexSettings()
    assert settings.roots == [tmp_path.resolve() / "demo-library"]
    assert settings.duckdb_path == tmp_path.resolve() / "melodex.duckdb"


def test_mlflow_uri_defaults_under_home_and_env_wins(monkeypatch, tmp_path):
    monkeypatch.setenv("MELODEX_HOME", str(tmp_path))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert MelodexSettings().mlflow_tracking_uri == f"sqlite:///{tmp_path.resolve()}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://tracking:5000")
    assert MelodexSettings().mlflow_tracking_uri == "http://tracking:5000"


@pytest.mark.parametrize("device", ["auto", "cpu", "cuda", "cuda:1", "mps"])
def test_valid_devices(device):
    assert MelodexSettings(device=device).device == device


@pytest.mark.parametrize("device", ["gpu", "cuda:x", "tpu"])
def test_invalid_device_is_a_clear_error(device):
    with pytest.raises(ValidationError, match="device must be"):
        MelodexSettings(device=device)
