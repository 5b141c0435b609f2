"""Per-segment genre predictions for a scan batch, written as one JSONL file per partition.

Each line follows the format users of the old inference script rely on (see README):
per-segment probabilities with start/end times and a global prediction averaged over segments.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from melodex_ml.store.files import atomic_path

TOP_TAGS = 5  # MusiCNN tags per network on each line


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
    embedding: list[float]  # the vector the model works from: model.embedding_source says which
    model: dict[str, str]
    top_tags: dict[str, list[dict]] | None = None  # MusiCNN's most probable tags per network
    flags: list[str] = field(default_factory=list)  # e.g. shorter_than_segment


def _as_dict(labels: list[str], probs: np.ndarray) -> dict[str, float]:
    return {label: round(float(p), 6) for label, p in zip(labels, probs, strict=True)}


def model_block(champion) -> dict[str, str]:
    """Which model answered, and which vector ``embedding`` is (its input, or its penultimate layer)."""
    model = champion.model
    return {"name": champion.name, "version": champion.version, "run_id": champion.run_id,
            "candidate": champion.candidate, "input_kind": model.input_kind,
            "embedding_source": model.embedding_source}  # fmt: skip


def track_prediction(
    track_id: str, audio_file: str, labels: list[str], bounds: Sequence[tuple[int, float, float]],
    probabilities: np.ndarray, embeddings: np.ndarray, block: dict[str, str], *,
    top_tags: dict | None = None, flags: Sequence[str] = (), top_k: int = 3,
) -> TrackPrediction:  # fmt: skip
    """One track's line from its segments' (index, start, end), probabilities and embeddings; the
    global prediction and the track embedding are the means over the segments."""
    global_probs, embedding = probabilities.mean(axis=0), embeddings.mean(axis=0)
    order = np.argsort(global_probs, kind="stable")[::-1][:top_k]
    return TrackPrediction(
        track_id=track_id,
        audio_file=audio_file,
        mode="full-file",
        total_segments=len(bounds),
        segments=[SegmentPrediction(int(i), round(float(a), 3), round(float(b), 3), _as_dict(labels, p))
                  for (i, a, b), p in zip(bounds, probabilities, strict=True)],  # fmt: skip
        global_prediction=GlobalPrediction(
            top_labels=[labels[i] for i in order],
            probabilities=[round(float(global_probs[i]), 6) for i in order],
            all_probabilities=_as_dict(labels, global_probs),
        ),
        embedding=[round(float(v), 6) for v in embedding.reshape(-1)],
        model=block,
        top_tags=top_tags,
        flags=list(flags),
    )


def predictions_of(
    champion, owner, index, start, end, inputs, paths: Mapping[str, str], *, tags: Mapping[str, dict] | None = None
) -> Iterator[TrackPrediction]:
    """Per-track predictions from stored segment inputs (rows of ``owner`` = their track), one
    forward pass for all rows."""
    labels, block = list(champion.model.labels), model_block(champion)
    owner, index = np.asarray(owner, dtype=str), np.asarray(index)
    if not len(owner):
        return
    probabilities, embeddings = champion.model.outputs(inputs)
    for track_id in sorted(set(owner.tolist())):
        rows = np.flatnonzero(owner == track_id)
        rows = rows[np.argsort(index[rows], kind="stable")]
        bounds = [(index[r], start[r], end[r]) for r in rows]
        yield track_prediction(track_id, paths.get(track_id, ""), labels, bounds, probabilities[rows],
                               embeddings[rows], block, top_tags=(tags or {}).get(track_id))  # fmt: skip


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
