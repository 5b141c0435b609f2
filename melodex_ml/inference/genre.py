"""Per-segment genre predictions for a scan batch, written as one JSONL file per partition.

Each line follows the format users of the old inference script rely on (see README):
per-segment probabilities with start/end times and a global prediction averaged over segments.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from melodex_ml.store.files import atomic_path
from melodex_ml.tracking import LoadedGenreModel
from melodex_ml.training.dataset import SegmentDataset
from melodex_ml.training.genre import track_probabilities


@dataclass(frozen=True)
class SegmentPrediction:
    segment_index: int
    start_time: float
    end_time: float
    predictions: dict[str, float]


@dataclass(frozen=True)
class GlobalPrediction:
    top_labels: list[str]
    probabilities: list[float]
    all_probabilities: dict[str, float]


@dataclass(frozen=True)
class TrackPrediction:
    track_id: str
    audio_file: str
    mode: str
    total_segments: int
    segments: list[SegmentPrediction]
    global_prediction: GlobalPrediction
    model: dict[str, str]


def _as_dict(labels: list[str], probs: np.ndarray) -> dict[str, float]:
    return {label: round(float(p), 6) for label, p in zip(labels, probs, strict=True)}


def predict_segments(
    model: LoadedGenreModel, data: SegmentDataset, paths: Mapping[str, str], *, top_k: int = 3
) -> list[TrackPrediction]:
    if len(data) == 0:
        return []
    labels = model.labels
    probs = model.pipeline.predict_proba(data.features)
    tracks, track_probs = track_probabilities(probs, data.track_ids)
    predictions = []
    for track_id, global_probs in zip(tracks, track_probs, strict=True):
        rows = np.flatnonzero(data.track_ids == track_id)
        rows = rows[np.argsort(data.segment_index[rows])]
        order = np.argsort(global_probs)[::-1][:top_k]
        predictions.append(
            TrackPrediction(
                track_id=str(track_id),
                audio_file=paths.get(str(track_id), ""),
                mode="full-file",
                total_segments=len(rows),
                segments=[
                    SegmentPrediction(
                        int(data.segment_index[r]), round(float(data.start_s[r]), 3),
                        round(float(data.end_s[r]), 3), _as_dict(labels, probs[r]),
                    )
                    for r in rows
                ],
                global_prediction=GlobalPrediction(
                    top_labels=[labels[i] for i in order],
                    probabilities=[round(float(global_probs[i]), 6) for i in order],
                    all_probabilities=_as_dict(labels, global_probs),
                ),
                model={"name": model.name, "version": model.version},
            )
        )
    return predictions


def write_jsonl(predictions: Iterable[TrackPrediction], path: Path) -> int:
    """Write atomically: a crash or a full disk leaves the previous file, never half a partition."""
    count = 0
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8") as handle:
        for prediction in predictions:
            handle.write(json.dumps(asdict(prediction), ensure_ascii=False) + "\n")
            count += 1
    return count


def read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]
