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
    embedding: list[float]
    model: dict[str, str]


def _as_dict(labels: list[str], probs: np.ndarray) -> dict[str, float]:
    return {label: round(float(p), 6) for label, p in zip(labels, probs, strict=True)}


def predictions_of(champion, owner, index, start, end, inputs, paths: Mapping[str, str], *, top_k: int = 3) -> list[TrackPrediction]:
    """Per-track predictions from segment inputs (rows of ``owner`` = their track, in time order)."""
    model = champion.model
    labels = list(model.labels)
    owner = np.asarray(owner, dtype=str)
    block = {"name": champion.name, "version": champion.version, "run_id": champion.run_id,
             "candidate": champion.candidate, "input_kind": model.input_kind,
             "embedding_source": model.embedding_source}  # fmt: skip
    predictions = []
    for track_id in sorted(set(owner.tolist())):
        rows = np.flatnonzero(owner == track_id)
        rows = rows[np.argsort(np.asarray(index)[rows])]
        track_inputs = inputs[rows] if isinstance(inputs, np.ndarray) else [inputs[r] for r in rows]
        segment_probs, global_probs, embedding = model.predict_track(track_inputs)
        order = np.argsort(global_probs)[::-1][:top_k]
        predictions.append(
            TrackPrediction(
                track_id=track_id,
                audio_file=paths.get(track_id, ""),
                mode="full-file",
                total_segments=len(rows),
                segments=[
                    SegmentPrediction(int(index[r]), round(float(start[r]), 3), round(float(end[r]), 3),
                                      _as_dict(labels, p))
                    for r, p in zip(rows, segment_probs, strict=True)
                ],  # fmt: skip
                global_prediction=GlobalPrediction(
                    top_labels=[labels[i] for i in order],
                    probabilities=[round(float(global_probs[i]), 6) for i in order],
                    all_probabilities=_as_dict(labels, global_probs),
                ),
                embedding=[round(float(v), 6) for v in np.asarray(embedding).reshape(-1)],
                model=block,
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
