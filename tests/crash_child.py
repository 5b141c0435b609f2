"""A process for test_recovery.py to kill -9 in the middle of real work.

    python crash_child.py predict <home>    # running stage row + RUNNING MLflow run + half a JSONL, then hangs
    python crash_child.py register <home>   # registers a better genre candidate, killed before the champion choice

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
            yield TrackPrediction(f"new{i}", f"/m/{i}.flac", "segments", 0, [], GlobalPrediction([], [], {}), [], {})
        (HOME / "ready").touch()
        time.sleep(600)  # killed here, with three lines in the temporary file
        yield from ()

    with tracking.start_run(SETTINGS, "genre-predictions"):
        write_jsonl(predictions(), SETTINGS.predictions_dir / "b1.jsonl")


def register() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from genre_fixtures import blob_library, taxonomy_of

    from melodex_ml import experiments
    from melodex_ml.training.evaluation_split import make_evaluation_split
    from melodex_ml.training.probes import train_logistic_probe

    library = blob_library(separation=6.0, artists_per_genre=4)
    taxonomy = taxonomy_of(library)
    result = train_logistic_probe(library.vectors, taxonomy, make_evaluation_split(taxonomy))
    experiments.log_candidate(result, SETTINGS)
    # The version is registered; the process dies before the champion is chosen among the candidates.
    os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    {"predict": predict, "register": register}[sys.argv[1]]()
