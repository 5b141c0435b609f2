"""`melodex models ...`: the candidates in the MLflow store (melodex_ml/registry.py).

``models compare`` prints the newest version of each candidate on one shared split (the
champion's, else the newest) side by side, best macro F1 first, under a title naming the split
and its number of test tracks: above the table, or on stderr with ``--format json|csv`` so that
stdout stays one document. No store or no candidates yet is one ``error:`` line and exit code 1.
"""

from __future__ import annotations

import math

from dagster_project.cli.errors import FAILED
from dagster_project.cli.tables import Rows, print_rows
from dagster_project.cli.terminal import errors, fail, line
from melodex_ml.settings import MelodexSettings

COLUMNS = [
    "candidate", "version", "accuracy", "macro_f1", "train_seconds", "test_tracks", "champion", "split_hash",
    "mlflow_run_id",
]  # fmt: skip


def compare(settings: MelodexSettings, *, task: str, fmt: str) -> int:
    if not settings.mlflow_store_exists:  # checked before importing MLflow, which would create the store
        fail(f"no MLflow store at {settings.mlflow_tracking_uri} yet: run `melodex run` to train the {task} models")
        return FAILED
    from melodex_ml.registry import compare_candidates

    candidates = compare_candidates(settings, task)
    if not candidates:
        fail(f"no {task} candidates registered in {settings.mlflow_tracking_uri} yet: run `melodex run` to train them")
        return FAILED
    first = candidates[0]
    title = f"{task} candidates on split {first.split_hash}, {first.n_test_tracks} test tracks"
    rows = [
        [c.candidate, c.version, number(c.accuracy), number(c.macro_f1), number(c.train_seconds), c.n_test_tracks,
         c.champion if fmt != "table" else ("*" if c.champion else ""), c.split_hash, c.run_id]
        for c in candidates
    ]  # fmt: skip
    if fmt == "table":
        print_rows(Rows(COLUMNS, rows, title=title), vertical=False)
    else:
        errors.print(line((title, "dim")))
        print_rows(Rows(COLUMNS, rows), fmt=fmt)
    return 0


def number(value: float) -> float | None:
    """A metric the run did not log is NaN in MLflow: NULL here, so the JSON stays valid."""
    return None if math.isnan(value) else value
