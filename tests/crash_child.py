"""A process for test_recovery.py to kill -9 in the middle of real work.

    python crash_child.py predict <home>    # running stage row + RUNNING MLflow run + half a JSONL, then hangs
    python crash_child.py register <home>   # registers a better genre model, killed before the alias moves

``predict`` touches ``<home>/ready`` once it is mid-write and then waits to be killed.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from melodex_ml.settings import MelodexSettings

HOME = Path(sys.argv[2])
SETTINGS = MelodexSettings(home=HOME)


def predict() -> None:
    from melodex_ml import tracking
    from melodex_ml.bookkeeping import record_stage_start
    from melodex_ml.inference.genre import GlobalPrediction, TrackPrediction, write_jsonl
    from melodex_ml.store import connect

    with connect(SETTINGS.duckdb_path) as con:  # closed again: the store is not held while working
        record_stage_start(con, "inference", "b1", run_id="dagster-run-1")

    def predictions():
        for i in range(3):
            yield TrackPrediction(f"new{i}", f"/m/{i}.flac", "segments", 0, [], GlobalPrediction([], [], {}), {})
        (HOME / "ready").touch()
        time.sleep(600)  # killed here, with three lines in the temporary file
        yield from ()

    with tracking.start_run(SETTINGS, "genre-predictions"):
        write_jsonl(predictions(), SETTINGS.predictions_dir / "b1.jsonl")


def register() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from test_genre_model import synthetic_segments

    from melodex_ml import tracking
    from melodex_ml.training.genre import GenreTrainingConfig, train_genre_classifier

    data = synthetic_segments(separation=6.0)
    trained = train_genre_classifier(data, GenreTrainingConfig(seed=1))
    # The version is registered; the process dies where the alias would move.
    tracking._elect_champion = lambda client, name: os.kill(os.getpid(), signal.SIGKILL)
    with tracking.start_run(SETTINGS, "genre-classifier"):
        tracking.log_genre_model(trained, SETTINGS, params={}, example=data.features[:3])


if __name__ == "__main__":
    {"predict": predict, "register": register}[sys.argv[1]]()
