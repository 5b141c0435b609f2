"""Candidates on stored vectors: the descriptor baseline and embedding probes (logistic regression, MLP).

The descriptor baseline is the logistic regression of :mod:`melodex_ml.training.genre` on
segment descriptors; the same pipeline on an encoder's vectors is the logistic probe. Probes
train on segment vectors (each segment labelled with its track's label) or on track vectors;
either way they score segments at inference, since an encoder's track vector is the mean of
its segment vectors and lives in the same space.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np

from melodex_ml.models.genre_model import DESCRIPTORS, ModelCard
from melodex_ml.models.vector_models import MlpGenreModel, MlpNet, SklearnGenreModel, Standardizer
from melodex_ml.training.candidate import CandidateResult, base_notes, check_inputs, score, split_counts
from melodex_ml.training.evaluation_split import EvaluationSplit, carve_validation
from melodex_ml.training.genre import GenreTrainingConfig, build_pipeline
from melodex_ml.training.inputs import SegmentVectors
from melodex_ml.training.labels import Taxonomy
from melodex_ml.training.torch_loop import LoopConfig, fit, training_threads


@dataclass(frozen=True)
class LogisticProbeConfig:
    regularization_c: float = 1.0
    max_iter: int = 5000
    seed: int = 42
    refit: bool = True  # register a model refit on every labelled track


@dataclass(frozen=True)
class MlpProbeConfig:
    hidden: int = 128
    dropout: float = 0.3
    validation_fraction: float = 0.2  # of the TRAIN tracks, for early stopping
    loop: LoopConfig = field(
        default_factory=lambda: LoopConfig(
            max_epochs=200, batch_size=32, learning_rate=1e-3, weight_decay=1e-4, patience=15
        )  # fmt: skip
    )
    refit: bool = True


def candidate_name(model: str, vectors: SegmentVectors) -> str:
    if vectors.input_kind == DESCRIPTORS:
        return f"descriptor-{model}"
    return f"probe-{model}:{vectors.input_kind.removeprefix('embedding:')}:{vectors.level}"


def _labelled(vectors: SegmentVectors, taxonomy: Taxonomy, track_ids) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows = vectors.rows_of(list(track_ids))
    index = np.asarray(taxonomy.label_index(rows.track_ids.tolist()), dtype=np.int64)
    return rows.values, index, rows.track_ids


def _card(candidate: str, taxonomy: Taxonomy, vectors: SegmentVectors, kind: str, source: str, dim: int,
          **extra: object) -> ModelCard:  # fmt: skip
    return ModelCard(
        kind=kind, candidate=candidate, task=taxonomy.task, input_kind=vectors.input_kind, labels=taxonomy.labels,
        embedding_source=source, embedding_dim=dim, input_names=vectors.input_names,
        extra={"input_dim": vectors.dim, "trained_on": vectors.level, **extra},
    )  # fmt: skip


def train_logistic_probe(
    vectors: SegmentVectors,
    taxonomy: Taxonomy,
    split: EvaluationSplit,
    config: LogisticProbeConfig = LogisticProbeConfig(),
) -> CandidateResult:
    """Logistic regression (impute, standardise, classify); on descriptors it is the baseline."""
    candidate = candidate_name("logreg", vectors)
    missing = check_inputs(taxonomy, split, vectors.tracks(), candidate)
    started = time.perf_counter()
    pipeline_config = GenreTrainingConfig(regularization_c=config.regularization_c, max_iter=config.max_iter,
                                          seed=config.seed)  # fmt: skip
    x_train, y_train, _ = _labelled(vectors, taxonomy, split.train_track_ids)
    labels = np.asarray(taxonomy.labels)
    card = _card(candidate, taxonomy, vectors, "sklearn", "input", vectors.dim)
    model = SklearnGenreModel(card, build_pipeline(pipeline_config).fit(x_train, labels[y_train]))
    x_test, _, test_tracks = _labelled(vectors, taxonomy, split.test_track_ids)
    evaluation = score(model, taxonomy, model.predict_segments(x_test), test_tracks, missing)
    if config.refit:
        x_all, y_all, _ = _labelled(vectors, taxonomy, taxonomy.track_ids)
        model = SklearnGenreModel(card, build_pipeline(pipeline_config).fit(x_all, labels[y_all]))
    return CandidateResult(
        candidate=candidate, task=taxonomy.task, model=model, evaluation=evaluation, split=split, taxonomy=taxonomy,
        params={"model": "logistic_regression", "input_kind": vectors.input_kind, "level": vectors.level,
                **asdict(config)},
        counts=split_counts(split, taxonomy, vectors.track_ids)
        | {"n_features": vectors.dim,
           "n_model_tracks": len(taxonomy.track_labels) if config.refit else len(split.train_track_ids)},
        train_seconds=time.perf_counter() - started,
        notes=base_notes(taxonomy, split, missing),
        input_example=x_train[:3],
    )  # fmt: skip


def train_mlp_probe(
    vectors: SegmentVectors, taxonomy: Taxonomy, split: EvaluationSplit, config: MlpProbeConfig = MlpProbeConfig()
) -> CandidateResult:
    """A one-hidden-layer MLP, early-stopped on validation tracks carved from the train tracks."""
    with training_threads(config.loop):
        return _train_mlp_probe(vectors, taxonomy, split, config)


def _train_mlp_probe(
    vectors: SegmentVectors, taxonomy: Taxonomy, split: EvaluationSplit, config: MlpProbeConfig
) -> CandidateResult:
    candidate = candidate_name("mlp", vectors)
    missing = check_inputs(taxonomy, split, vectors.tracks(), candidate)
    started = time.perf_counter()
    fit_ids, val_ids = carve_validation(taxonomy, split, config.validation_fraction, config.loop.seed)
    x_fit, y_fit, _ = _labelled(vectors, taxonomy, fit_ids)
    x_val, y_val, _ = _labelled(vectors, taxonomy, val_ids)
    card = _card(candidate, taxonomy, vectors, "mlp", "penultimate", config.hidden,
                 hidden=config.hidden, dropout=config.dropout)  # fmt: skip

    def build() -> MlpNet:
        return MlpNet(vectors.dim, config.hidden, len(taxonomy.labels), config.dropout)

    scaler = Standardizer.fit(x_fit)
    outcome = fit(build, scaler(x_fit), y_fit, config.loop, x_val=scaler(x_val), y_val=y_val)
    model = MlpGenreModel(card, outcome.module, scaler, outcome.device)
    x_test, _, test_tracks = _labelled(vectors, taxonomy, split.test_track_ids)
    evaluation = score(model, taxonomy, model.predict_segments(x_test), test_tracks, missing)
    if config.refit:
        x_all, y_all, _ = _labelled(vectors, taxonomy, taxonomy.track_ids)
        scaler = Standardizer.fit(x_all)
        refit = fit(build, scaler(x_all), y_all, config.loop, epochs=outcome.best_epoch)
        model = MlpGenreModel(card, refit.module, scaler, refit.device)
    return CandidateResult(
        candidate=candidate, task=taxonomy.task, model=model, evaluation=evaluation, split=split, taxonomy=taxonomy,
        params={"model": "mlp", "input_kind": vectors.input_kind, "level": vectors.level, "hidden": config.hidden,
                "dropout": config.dropout, "validation_fraction": config.validation_fraction, "refit": config.refit,
                **asdict(config.loop)},
        counts=split_counts(split, taxonomy, vectors.track_ids)
        | {"n_features": vectors.dim, "n_validation_tracks": len(val_ids),
           "n_model_tracks": len(taxonomy.track_labels) if config.refit else len(fit_ids)},
        train_seconds=time.perf_counter() - started,
        history=tuple(outcome.history),
        best_epoch=outcome.best_epoch,
        notes=base_notes(taxonomy, split, missing),
        input_example=x_fit[:3],
        device=outcome.device,
    )  # fmt: skip
