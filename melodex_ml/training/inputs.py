"""Vector inputs of the probes: segment descriptors or a stored encoder's segment/track vectors."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from melodex_ml.embeddings.hdf5 import EmbeddingSet
from melodex_ml.models.genre_model import DESCRIPTORS, embedding_input
from melodex_ml.training.dataset import SegmentDataset

Level = Literal["segment", "track"]


@dataclass(frozen=True)
class SegmentVectors:
    """One row per segment (or per track, ``level="track"``), tagged with its track."""

    values: np.ndarray  # (n, dim) float32
    track_ids: np.ndarray  # (n,) str
    input_kind: str  # descriptors | embedding:<encoder>
    input_names: tuple[str, ...] = ()  # descriptor column names; () for embeddings
    level: Level = "segment"

    def __post_init__(self) -> None:
        if self.values.ndim != 2 or len(self.values) != len(self.track_ids):
            raise ValueError(f"values {self.values.shape} do not match {len(self.track_ids)} track ids")

    def __len__(self) -> int:
        return len(self.track_ids)

    @property
    def dim(self) -> int:
        return int(self.values.shape[1])

    def tracks(self) -> set[str]:
        return set(self.track_ids.tolist())

    def rows_of(self, track_ids: Sequence[str]) -> SegmentVectors:
        mask = np.isin(self.track_ids, np.asarray(track_ids, dtype=str))
        return SegmentVectors(self.values[mask], self.track_ids[mask], self.input_kind, self.input_names, self.level)

    @classmethod
    def from_segment_dataset(cls, data: SegmentDataset) -> SegmentVectors:
        return cls(np.asarray(data.features, np.float32), np.asarray(data.track_ids, dtype=str), DESCRIPTORS,
                   tuple(data.feature_names))  # fmt: skip

    @classmethod
    def from_embeddings(cls, embeddings: EmbeddingSet, encoder: str, level: Level = "segment") -> SegmentVectors:
        """Vectors of ``encoder`` (a name such as ``msd-musicnn``); layer stacks are flattened."""
        if level == "track":
            values, track_ids = embeddings.track, np.asarray(embeddings.track_ids, dtype=str)
        else:
            if embeddings.segments is None or embeddings.segment_track_index is None:
                raise ValueError(f"{encoder} embeddings have no segment vectors; use level='track'")
            values = embeddings.segments
            track_ids = np.asarray(embeddings.track_ids, dtype=str)[embeddings.segment_track_index]
        values = np.asarray(values, np.float32).reshape(len(values), -1)
        return cls(values, track_ids, embedding_input(encoder), (), level)
