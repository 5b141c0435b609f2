"""Train the MFCC CNN with the recipe users know, on track-level splits.

The recipe split *windows* at random (70/20/10), so windows of one track sat in train and test
and its accuracy measured memory of tracks as much as genre. Here the split is the task's shared
track split: no window of a test track is seen in training or early stopping, and the validation
windows come from train tracks held apart (``validation_fraction`` of them, by artist).
Adam (lr 8e-4, weight decay 2e-4), gradient clipping 1.0, at most 30 epochs of batch 64, early
stopping with patience 8 on the validation loss, best epoch kept. Windows are scored as
segments (mean over a segment's windows) and tracks (mean over its segments).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from melodex_ml.models.mfcc_cnn import GenreCnn, MfccCnnGenreModel, MfccConfig, MinMaxScaling, mfcc_card, mfcc_windows
from melodex_ml.training.audio_segments import PreparedSegments, prepare_tracks
from melodex_ml.training.candidate import CandidateResult, base_notes, check_inputs, score, split_counts
from melodex_ml.training.evaluation_split import EvaluationSplit, carve_validation
from melodex_ml.training.labels import Taxonomy
from melodex_ml.training.torch_loop import LoopConfig, fit, training_threads

CANDIDATE = "mfcc-cnn"


@dataclass(frozen=True)
class MfccCnnConfig:
    mfcc: MfccConfig = MfccConfig()
    segment_seconds: float = 30.0
    validation_fraction: float = 0.2
    loop: LoopConfig = field(default_factory=LoopConfig)  # the recipe's values are LoopConfig's defaults
    refit: bool = True  # register a model refit on every labelled track for the best epoch count


def prepare_mfcc(tracks: Mapping[str, Path | str], config: MfccCnnConfig = MfccCnnConfig()) -> PreparedSegments:
    """MFCC windows of every segment of ``tracks`` (track_id -> audio file)."""
    return prepare_tracks(tracks, lambda audio: mfcc_windows(audio, config.mfcc),
                          sample_rate=config.mfcc.sample_rate, segment_seconds=config.segment_seconds)  # fmt: skip


def _windows(prepared: PreparedSegments, rows: list[int], taxonomy: Taxonomy) -> tuple[np.ndarray, np.ndarray]:
    if not rows:
        return np.zeros((0, 1, 1, 1), np.float32), np.zeros(0, np.int64)
    stacks = [prepared.inputs[i] for i in rows]
    labels = taxonomy.label_index([prepared.track_ids[i] for i in rows])
    x = np.concatenate(stacks)
    y = np.repeat(np.asarray(labels, np.int64), [len(s) for s in stacks])
    return x, y


def train_mfcc_cnn(
    prepared: PreparedSegments, taxonomy: Taxonomy, split: EvaluationSplit, config: MfccCnnConfig = MfccCnnConfig()
) -> CandidateResult:
    """Train on ``prepared`` (from :func:`prepare_mfcc`) and score on the shared split."""
    with training_threads(config.loop):
        return _train_mfcc_cnn(prepared, taxonomy, split, config)


def _train_mfcc_cnn(
    prepared: PreparedSegments, taxonomy: Taxonomy, split: EvaluationSplit, config: MfccCnnConfig
) -> CandidateResult:
    missing = check_inputs(taxonomy, split, prepared.tracks(), CANDIDATE)
    started = time.perf_counter()
    fit_ids, val_ids = carve_validation(taxonomy, split, config.validation_fraction, config.loop.seed)
    x_fit, y_fit = _windows(prepared, prepared.rows_of(fit_ids), taxonomy)
    x_val, y_val = _windows(prepared, prepared.rows_of(val_ids), taxonomy)
    mfcc, n_labels = config.mfcc, len(taxonomy.labels)
    card = mfcc_card(CANDIDATE, taxonomy.task, taxonomy.labels, mfcc, config.segment_seconds)

    def build() -> GenreCnn:
        return GenreCnn(mfcc.frames, mfcc.n_mfcc, n_labels)

    scaling = MinMaxScaling.fit(x_fit)
    outcome = fit(build, scaling(x_fit), y_fit, config.loop,
                  x_val=scaling(x_val) if len(x_val) else None, y_val=y_val if len(x_val) else None)  # fmt: skip
    model = MfccCnnGenreModel(card, outcome.module, scaling, outcome.device)
    test_rows = prepared.rows_of(split.test_track_ids)
    probabilities = model.predict_segments([prepared.inputs[i] for i in test_rows])
    evaluation = score(model, taxonomy, probabilities, prepared.track_ids[test_rows], missing)
    if config.refit:
        x_all, y_all = _windows(prepared, prepared.rows_of(taxonomy.track_ids), taxonomy)
        scaling = MinMaxScaling.fit(x_all)
        refit = fit(build, scaling(x_all), y_all, config.loop, epochs=outcome.best_epoch)
        model = MfccCnnGenreModel(card, refit.module, scaling, refit.device)
    n_model_tracks = len(set(prepared.track_ids.tolist()) & set(taxonomy.track_labels if config.refit else fit_ids))
    return CandidateResult(
        candidate=CANDIDATE, task=taxonomy.task, model=model, evaluation=evaluation, split=split, taxonomy=taxonomy,
        params={"model": "mfcc_cnn", "input_kind": "mfcc", "segment_seconds": config.segment_seconds,
                "validation_fraction": config.validation_fraction, "refit": config.refit,
                **{f"mfcc_{k}": v for k, v in asdict(mfcc).items()}, **asdict(config.loop)},
        counts=split_counts(split, taxonomy, prepared.track_ids)
        | {"n_fit_windows": len(x_fit), "n_validation_windows": len(x_val), "n_validation_tracks": len(val_ids),
           "n_model_tracks": n_model_tracks, "n_failed_tracks": len(prepared.failures)},
        train_seconds=time.perf_counter() - started,
        history=tuple(outcome.history),
        best_epoch=outcome.best_epoch,
        notes=base_notes(taxonomy, split, missing)
        + ("track-level split: no window of a test track is seen in training (the old recipe split windows)",),
        input_example=prepared.inputs[test_rows[0] if test_rows else 0][None, :2],
        device=outcome.device,
    )  # fmt: skip
