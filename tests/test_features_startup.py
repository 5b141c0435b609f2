"""Start-up of the features path: numba's cache lives in MELODEX_HOME, heavy modules load on use.

Speed itself is measured in benchmarks/bench_startup.py; these tests check the mechanisms.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_features_signals import music, stereo, write


def _melodex(args: list[str], home: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    environment.update(MELODEX_HOME=str(home), **env)
    command = [sys.executable, "-m", "dagster_project.cli", *args]
    return subprocess.run(command, env=environment, capture_output=True, text=True, check=True, timeout=600)


@pytest.mark.slow
def test_features_command_compiles_once_into_the_home_and_then_loads(tmp_path):
    clip = write(tmp_path / "beat.wav", stereo(music(10.0)), subtype="PCM_16")  # 120 BPM, A minor
    home = tmp_path / "home"
    cold = _melodex(["features", str(clip), "--format", "json"], home)
    index = {p.name.rsplit("-", 1)[0] for p in (home / "numba").rglob("*.nbi")}
    # librosa's beat tracker, with the local-score gufunc librosa itself leaves uncached
    assert {"beat.__beat_local_score", "guf-beat.__beat_local_score", "beat.__beat_track_dp"} <= index
    warm = _melodex(["features", str(clip), "--format", "json"], home, NUMBA_DEBUG_CACHE="1")
    log = warm.stdout
    assert "[cache] data saved" not in log  # nothing compiled again
    loaded = [line for line in log.splitlines() if line.startswith(f"[cache] data loaded from '{home / 'numba'}")]
    assert any("beat.__beat_local_score" in line for line in loaded)
    for run in (cold, warm):
        (record,) = json.loads(run.stdout[run.stdout.index("[\n") :])
        assert record["features"]["tempo_bpm"] == pytest.approx(120.0, abs=1.0)
        assert (record["features"]["key"], record["features"]["mode"]) == ("A", "minor")


def test_importing_the_features_path_loads_no_heavy_module(tmp_path):
    """Decoders, the store and the models load when used, not when the feature code is imported."""
    heavy = ["av", "duckdb", "pyarrow", "torch", "dagster", "mlflow", "numba", "essentia", "mutagen"]
    code = (
        "import sys, melodex_ml.audio, melodex_ml.features, melodex_ml.features.report\n"
        f"print([name for name in {heavy!r} if name in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
