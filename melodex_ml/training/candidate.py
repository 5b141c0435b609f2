"""What every candidate trainer returns, and the checks they share before training."""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass, field

import numpy as np

from melodex_ml.models.genre_model import GenreModel
from melodex_ml.training.evaluation import EpochRecord, EvaluationResult, evaluate
from melodex_ml.training.evaluation_split import EvaluationSplit
from melodex_ml.training.labels import NotEnoughData, Taxonomy


@dataclass(frozen=True)
class CandidateResult:
    """One candidate, trained and scored on the task's shared split.

    ``model`` is what gets registered: with ``refit`` it was trained again on every labelled
    track (the iterative ones for the best epoch count found with the held-out tracks).
    """

    candidate: str
    task: str
    model: GenreModel
    evaluation: EvaluationResult
    split: EvaluationSplit
    taxonomy: Taxonomy
    params: dict[str, object]
    counts: dict[str, int]  # sizes: logged as params
    train_seconds: float
    history: tuple[EpochRecord, ...] = ()
    best_epoch: int | None = None
    notes: tuple[str, ...] = ()
    input_example: object = None  # a few real rows of model input, for the MLflow signature
    device: str = "cpu"
    extra_artifacts: dict[str, str] = field(default_factory=dict)  # name -> text, logged beside the model
    # Wall clock when training ended (the result is made then): the MLflow run spans the training.
    finished_at: float = field(default_factory=time.time, compare=False)

    @property
    def started_at(self) -> float:
        return self.finished_at - self.train_seconds

    def metrics(self) -> dict[str, float]:
        return self.evaluation.metrics() | {"train_seconds": self.train_seconds}


def check_inputs(taxonomy: Taxonomy, split: EvaluationSplit, available: Collection[str], what: str) -> list[str]:
    """Test tracks without inputs (scored as misses); raises when training would have nothing."""
    check_split(taxonomy, split)
    available = set(available)
    train_labels = {taxonomy.track_labels[t] for t in split.train_track_ids if t in available}
    if len(train_labels) < 2:
        raise NotEnoughData(
            f"{what}: the train tracks with inputs cover {len(train_labels)} label(s); need at least 2",
            taxonomy.report,
        )
    return [t for t in split.test_track_ids if t not in available]


def check_split(taxonomy: Taxonomy, split: EvaluationSplit) -> None:
    """A candidate is scored on the task's split only: one made from another taxonomy is refused."""
    if split.task != taxonomy.task or not set(split.test_track_ids) <= set(taxonomy.track_labels):
        raise ValueError(f"split {split.split_hash} was not made from this taxonomy ({taxonomy.task})")


def score(
    model: GenreModel,
    taxonomy: Taxonomy,
    probabilities: np.ndarray,
    row_track_ids: np.ndarray,
    missing_test_tracks: list[str],
) -> EvaluationResult:
    return evaluate(model.labels, taxonomy.track_labels, probabilities, row_track_ids, missing_test_tracks)


def split_counts(split: EvaluationSplit, taxonomy: Taxonomy, row_track_ids: np.ndarray) -> dict[str, int]:
    train = split.train_mask(row_track_ids)
    test = split.test_mask(row_track_ids)
    return {
        "n_labels": len(taxonomy.labels),
        "n_train_tracks": len(split.train_track_ids),
        "n_test_tracks": len(split.test_track_ids),
        "n_train_rows": int(train.sum()),
        "n_test_rows": int(test.sum()),
        "n_untagged_tracks": len(taxonomy.unlabeled),
    }


def base_notes(taxonomy: Taxonomy, split: EvaluationSplit, missing: list[str]) -> tuple[str, ...]:
    notes = [*taxonomy.report.lines(), *split.notes()]
    if missing:
        notes.append(f"{len(missing)} test track(s) have no inputs for this model and count as misses")
    return tuple(notes)
