"""What MusiCNN says about one track: per-patch outputs pooled per segment and per track.

Segments follow the feature extractor's rule (``melodex_ml.features.segments``): ``segment_seconds`` long
from the start, with a remainder shorter than half a segment joining the last one, so that tag and
feature segments line up. A patch belongs to the segment that holds its centre. Per segment and per
track, embeddings and tag probabilities are plain means over the patches (the track mean is over all
patches, as the original's taggram mean, not over segments).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from melodex_ml.embeddings.musicnn.specs import HOP, PATCH_FRAMES, SAMPLE_RATE

if TYPE_CHECKING:
    from melodex_ml.embeddings.hdf5 import TrackEmbedding

PATCH_SECONDS = PATCH_FRAMES * HOP / SAMPLE_RATE  # 2.992 s


@dataclass(frozen=True)
class Segment:
    index: int
    start_s: float
    end_s: float
    n_patches: int


@dataclass(frozen=True)
class ModelOutput:
    """One network's view of one track."""

    model: str  # msd-musicnn | mtt-musicnn
    checkpoint_sha256: str  # of the checkpoint's .data file
    layer: str  # the embedding's TF layer, model/dense/BiasAdd
    labels: tuple[str, ...]
    embedding: np.ndarray = field(repr=False)  # (200,) float32, mean over patches
    tags: np.ndarray = field(repr=False)  # (n_labels,) float32 probabilities, mean over patches
    segment_embeddings: np.ndarray = field(repr=False)  # (n_segments, 200)
    segment_tags: np.ndarray = field(repr=False)  # (n_segments, n_labels)

    def tag_probabilities(self) -> dict[str, float]:
        return {label: float(p) for label, p in zip(self.labels, self.tags, strict=True)}

    def top_tags(self, k: int = 5) -> list[tuple[str, float]]:
        order = np.argsort(-self.tags, kind="stable")[:k]
        return [(self.labels[i], float(self.tags[i])) for i in order]


@dataclass(frozen=True)
class MusicnnResult:
    key: str  # the caller's track id (or path)
    duration_s: float
    sample_rate: int  # of the source
    channels: int
    n_patches: int
    patch_hop_s: float
    segments: tuple[Segment, ...]
    outputs: Mapping[str, ModelOutput]  # by model name
    padded: bool = False  # shorter than one patch: zero-padded to one
    nonfinite_samples: int = 0  # NaN/Inf input samples replaced by silence

    @property
    def flags(self) -> tuple[str, ...]:
        return (("padded",) if self.padded else ()) + (("nonfinite_samples",) if self.nonfinite_samples else ())

    def track_embedding(self, model: str) -> TrackEmbedding:
        """The ``model``'s embeddings as the HDF5 writer's record (``melodex_ml.embeddings.hdf5``)."""
        from melodex_ml.embeddings.hdf5 import TrackEmbedding  # h5py loads only where embeddings are stored

        output = self.outputs[model]
        return TrackEmbedding(
            track_id=self.key,
            track=output.embedding,
            segments=output.segment_embeddings,
            segment_start_s=np.array([s.start_s for s in self.segments]),
            segment_end_s=np.array([s.end_s for s in self.segments]),
        )


def segment_layout(duration_s: float, segment_seconds: float) -> list[tuple[float, float]]:
    """(start, end) of each segment: full ones, the last absorbing a remainder under half a segment."""
    if segment_seconds <= 0:
        raise ValueError("segment_seconds must be positive")
    full = math.floor(duration_s / segment_seconds + 1e-9)
    tail = duration_s - full * segment_seconds
    count = max(1, full + (1 if tail >= segment_seconds / 2 else 0))
    bounds = [(i * segment_seconds, (i + 1) * segment_seconds) for i in range(count)]
    bounds[-1] = (bounds[-1][0], duration_s)
    return bounds


def pool_patches(
    embeddings: np.ndarray, tags: np.ndarray, patch_start_s: np.ndarray, duration_s: float, segment_seconds: float
) -> tuple[tuple[Segment, ...], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(segments, segment embeddings, segment tags, track embedding, track tags) from per-patch outputs.

    Segments that hold no patch centre (possible only when segments are shorter than a patch) are left out.
    """
    bounds = segment_layout(duration_s, segment_seconds)
    centres = patch_start_s + PATCH_SECONDS / 2
    owner = np.minimum((centres // segment_seconds).astype(np.int64), len(bounds) - 1)
    segments, seg_embeddings, seg_tags = [], [], []
    for index, (start, end) in enumerate(bounds):
        mine = owner == index
        if not mine.any():
            continue
        segments.append(Segment(index, float(start), float(end), int(mine.sum())))
        seg_embeddings.append(embeddings[mine].mean(axis=0))
        seg_tags.append(tags[mine].mean(axis=0))
    return (
        tuple(segments),
        np.stack(seg_embeddings).astype(np.float32),
        np.stack(seg_tags).astype(np.float32),
        embeddings.mean(axis=0).astype(np.float32),
        tags.mean(axis=0).astype(np.float32),
    )
