"""A first genre classifier on segment descriptors, evaluated on held-out artists."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from melodex_ml.training.dataset import SegmentDataset
from melodex_ml.training.evaluation import mean_by_track as track_probabilities
from melodex_ml.training.labels import NotEnoughData

__all__ = ["GenreTrainingConfig", "NotEnoughData", "TrainedGenreModel", "build_pipeline", "track_probabilities",
           "train_genre_classifier"]


@dataclass(frozen=True)
class GenreTrainingConfig:
    held_out_folds: int = 4  # 1/held_out_folds of the artists are held out for evaluation
    regularization_c: float = 1.0
    max_iter: int = 5000
    min_tracks_per_label: int = 2
    seed: int = 42


@dataclass
class TrainedGenreModel:
    pipeline: Pipeline
    labels: list[str]
    feature_names: list[str]
    metrics: dict[str, float]
    confusion: list[list[int]]
    per_label_f1: dict[str, float] = field(default_factory=dict)


def build_pipeline(config: GenreTrainingConfig) -> Pipeline:
    return Pipeline(
        [
            ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
            ("scale", StandardScaler()),
            ("classify", LogisticRegression(C=config.regularization_c, max_iter=config.max_iter, random_state=config.seed)),
        ]
    )


HELD_OUT_SPLITS = ("val", "test")


def _held_out_split(data: SegmentDataset, config: GenreTrainingConfig) -> tuple[np.ndarray, np.ndarray]:
    """The catalog's val+test tracks when every track has a catalog split (the catalog's splits are
    group-aware and checked for leaks); otherwise hold out whole artists (or whole tracks when
    unknown) here, so segments never leak across."""
    if len(data) and (data.splits != "").all():
        test_mask = np.isin(data.splits, HELD_OUT_SPLITS)
        if not test_mask.any() or test_mask.all():
            raise NotEnoughData("the catalog's split leaves no labeled track on one side (train, or val+test)")
        return ~test_mask, test_mask
    track_ids, first = np.unique(data.track_ids, return_index=True)
    track_labels, track_groups = data.labels[first], data.groups[first]
    n_groups = len(np.unique(track_groups))
    # Every genre needs a track on both sides, so no more folds than its rarest genre has tracks.
    folds = min(config.held_out_folds, n_groups, int(np.unique(track_labels, return_counts=True)[1].min()))
    if folds < 2:
        raise NotEnoughData(f"need tracks from at least 2 artists to hold some out, got {n_groups}")
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=config.seed)
    _, test_tracks = next(splitter.split(track_ids, track_labels, track_groups))
    test_mask = np.isin(data.track_ids, track_ids[test_tracks])
    return ~test_mask, test_mask


def train_genre_classifier(data: SegmentDataset, config: GenreTrainingConfig = GenreTrainingConfig()) -> TrainedGenreModel:
    data = data.labeled()
    tracks_per_label: dict[str, int] = {}
    for label in np.unique(data.labels):
        tracks_per_label[label] = len(np.unique(data.track_ids[data.labels == label]))
    kept = [label for label, n in tracks_per_label.items() if n >= config.min_tracks_per_label]
    if len(kept) < 2:
        raise NotEnoughData(
            f"need at least 2 genres with {config.min_tracks_per_label}+ labeled tracks each, got {tracks_per_label}"
        )
    data = data.subset(np.isin(data.labels, kept))
    train, test = _held_out_split(data, config)
    pipeline = build_pipeline(config).fit(data.features[train], data.labels[train])
    labels = [str(c) for c in pipeline.classes_]

    segment_pred = pipeline.predict(data.features[test])
    test_tracks, track_probs = track_probabilities(pipeline.predict_proba(data.features[test]), data.track_ids[test])
    truth_by_track = dict(zip(data.track_ids[test], data.labels[test], strict=True))
    track_truth = np.array([truth_by_track[t] for t in test_tracks])
    track_pred = np.array(labels)[track_probs.argmax(axis=1)]
    # Scores cover the genres present among the held-out tracks; an absent genre is not a miss.
    present = [label for label in labels if label in set(track_truth)]
    per_label = f1_score(track_truth, track_pred, labels=present, average=None, zero_division=0)
    metrics = {
        "segment_accuracy": float(accuracy_score(data.labels[test], segment_pred)),
        "track_accuracy": float(accuracy_score(track_truth, track_pred)),
        "track_macro_f1": float(f1_score(track_truth, track_pred, labels=present, average="macro", zero_division=0)),
        "n_train_tracks": float(len(np.unique(data.track_ids[train]))),
        "n_test_tracks": float(len(test_tracks)),
        "n_train_segments": float(train.sum()),
        "n_labels": float(len(labels)),
        "n_test_labels": float(len(present)),
    }
    metrics["n_fit_tracks"] = float(len(np.unique(data.track_ids)))
    return TrainedGenreModel(
        # Scored on held-out artists above; the registered model then learns from every labeled track.
        pipeline=build_pipeline(config).fit(data.features, data.labels),
        labels=labels,
        feature_names=data.feature_names,
        metrics=metrics,
        confusion=confusion_matrix(track_truth, track_pred, labels=labels).tolist(),
        per_label_f1={label: float(f) for label, f in zip(present, per_label, strict=True)},
    )
