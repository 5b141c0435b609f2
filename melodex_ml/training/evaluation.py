"""Scores on the shared split, in one record type for every candidate model.

Segment-level models are scored at track level too: a track's probabilities are the mean of its
segments' (the global prediction users see in the JSONL). Macro F1 averages over every label of
the task; the split puts a track of every label on the test side, so no label is absent.
"""

from __future__ import annotations

import re
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, precision_recall_fscore_support

NO_INPUT = "(no input)"  # the prediction of a test track the model had no input for


@dataclass(frozen=True)
class ClassMetrics:
    precision: float
    recall: float  # = the per-genre accuracy of the old scripts
    f1: float
    support: int


@dataclass(frozen=True)
class EpochRecord:
    epoch: int  # 1-based
    train_loss: float
    val_loss: float | None = None
    train_accuracy: float | None = None
    val_accuracy: float | None = None
    # Wall clock when the epoch ended: MLflow charts the curves against time as well as steps.
    ended_at: float = field(default_factory=time.time, compare=False)

    def metrics(self) -> dict[str, float]:
        values = {"train_loss": self.train_loss, "val_loss": self.val_loss,
                  "train_accuracy": self.train_accuracy, "val_accuracy": self.val_accuracy}  # fmt: skip
        return {k: float(v) for k, v in values.items() if v is not None}


@dataclass(frozen=True)
class EvaluationResult:
    labels: tuple[str, ...]
    accuracy: float  # track level
    macro_f1: float  # track level
    per_class: dict[str, ClassMetrics]
    confusion: tuple[tuple[int, ...], ...]  # rows: truth, columns: prediction, in ``labels`` order
    n_test_tracks: int
    segment_accuracy: float | None = None
    n_test_segments: int | None = None
    report_text: str = ""
    track_predictions: dict[str, str] = field(default_factory=dict)

    def metrics(self) -> dict[str, float]:
        out = {"test_accuracy": self.accuracy, "test_macro_f1": self.macro_f1}
        if self.segment_accuracy is not None:
            out["test_segment_accuracy"] = self.segment_accuracy
        for label, m in self.per_class.items():
            key = metric_label(label, taken=out)
            out |= {f"test_precision_{key}": m.precision, f"test_recall_{key}": m.recall, f"test_f1_{key}": m.f1}
        return out

    def per_class_dict(self) -> dict[str, dict[str, float]]:
        return {label: vars(m) for label, m in self.per_class.items()}


def metric_label(label: str, taken: dict[str, float] | None = None) -> str:
    """``label`` as MLflow accepts it in a metric name (letters, digits, ``_ - .`` and spaces)."""
    ascii_label = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode("ascii")
    key = re.sub(r"[^0-9A-Za-z_\-. ]", "_", ascii_label).strip(" ._") or "label"
    suffix, candidate = 1, key
    while taken and f"test_f1_{candidate}" in taken:  # two labels that differ only in symbols
        suffix += 1
        candidate = f"{key}_{suffix}"
    return candidate


def mean_by_track(probabilities: np.ndarray, track_ids: Sequence[str] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted unique track ids, mean probability rows): a track's global prediction."""
    unique, inverse = np.unique(np.asarray(track_ids, dtype=str), return_inverse=True)
    sums = np.zeros((len(unique), probabilities.shape[1]))
    np.add.at(sums, inverse, probabilities)
    return unique, sums / np.bincount(inverse).reshape(-1, 1)


def evaluate(
    labels: Sequence[str],
    truth_of: dict[str, str],
    probabilities: np.ndarray,
    row_track_ids: Sequence[str] | np.ndarray,
    missing_tracks: Sequence[str] = (),
) -> EvaluationResult:
    """Score rows (segments, or one row per track) of the test tracks against ``truth_of``.

    ``missing_tracks``: test tracks the model had no input for; they count as misses, so
    every candidate is scored on the whole shared split.
    """
    labels = tuple(labels)
    row_track_ids = np.asarray(row_track_ids, dtype=str)
    if len(row_track_ids) == 0 and not missing_tracks:
        raise ValueError("nothing to evaluate: no test rows")
    tracks = np.zeros(0, dtype=str)
    track_probs = np.zeros((0, len(labels)))
    if len(row_track_ids):
        tracks, track_probs = mean_by_track(probabilities, row_track_ids)
    track_pred = [labels[i] for i in track_probs.argmax(axis=1)] + [NO_INPUT] * len(missing_tracks)
    tracks = np.concatenate([tracks, np.asarray(list(missing_tracks), dtype=str)])
    track_truth = [truth_of[t] for t in tracks]
    precision, recall, f1, support = precision_recall_fscore_support(
        track_truth, track_pred, labels=list(labels), zero_division=0
    )
    per_row = len(tracks) - len(missing_tracks) != len(row_track_ids)
    segment_accuracy = None
    if per_row:
        row_truth = [truth_of[t] for t in row_track_ids]
        segment_accuracy = float(accuracy_score(row_truth, [labels[i] for i in probabilities.argmax(axis=1)]))
    return EvaluationResult(
        labels=labels,
        accuracy=float(accuracy_score(track_truth, track_pred)),
        macro_f1=float(np.mean(f1)),
        per_class={
            label: ClassMetrics(float(p), float(r), float(f), int(s))
            for label, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)
        },
        confusion=tuple(
            tuple(int(v) for v in row) for row in confusion_matrix(track_truth, track_pred, labels=list(labels))
        ),
        n_test_tracks=len(tracks),
        segment_accuracy=segment_accuracy,
        n_test_segments=len(row_track_ids) if per_row else None,
        report_text=classification_report(track_truth, track_pred, labels=list(labels), zero_division=0, digits=3),
        track_predictions=dict(zip(tracks.tolist(), track_pred, strict=True)),
    )
