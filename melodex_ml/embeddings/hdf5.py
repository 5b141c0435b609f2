"""Embeddings on disk: one HDF5 file per scan batch (or dataset split), replaced atomically.

Layout of ``<dir>/<name>.h5``::

    track_ids            (N,)              utf-8 strings
    track                (N, *shape)       float32, one vector (or layers x dim matrix) per track
    segments             (S, *shape)       float32, optional: one per segment of every track
    segment_track_index  (S,)              int64, row of ``track`` each segment belongs to
    segment_start_s      (S,)              float64
    segment_end_s        (S,)              float64
    attrs: model_id, dim, pooling, created_at (UTC ISO 8601), melodex_version, plus caller extras

Tracks that failed are simply absent; their failures go to the ``failures`` table.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import h5py
import numpy as np

from melodex_ml.store.files import atomic_path

AttrValue = str | int | float | bool


@dataclass(frozen=True)
class TrackEmbedding:
    """One track's embedding, with its per-segment embeddings when the encoder works by segment."""

    track_id: str
    track: np.ndarray  # (*shape), e.g. (dim,) or (layers, dim)
    segments: np.ndarray | None = None  # (n_segments, *shape)
    segment_start_s: np.ndarray | None = None  # (n_segments,)
    segment_end_s: np.ndarray | None = None  # (n_segments,)

    def __post_init__(self) -> None:
        if self.segments is None:
            return
        n = len(self.segments)
        if self.segments.shape[1:] != self.track.shape:
            raise ValueError(
                f"{self.track_id}: segment shape {self.segments.shape[1:]} != track shape {self.track.shape}"
            )
        if self.segment_start_s is None or self.segment_end_s is None:
            raise ValueError(f"{self.track_id}: segments need their start and end times")
        if len(self.segment_start_s) != n or len(self.segment_end_s) != n:
            raise ValueError(f"{self.track_id}: {n} segments but {len(self.segment_start_s)} start times")


@dataclass(frozen=True)
class EmbeddingSet:
    """Embeddings read back from one or several files."""

    track_ids: list[str]
    track: np.ndarray
    attrs: dict[str, AttrValue]
    segments: np.ndarray | None = None
    segment_track_index: np.ndarray | None = None
    segment_start_s: np.ndarray | None = None
    segment_end_s: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.track_ids)

    @property
    def model_id(self) -> str:
        return str(self.attrs["model_id"])

    def vector(self, track_id: str) -> np.ndarray:
        return self.track[self.track_ids.index(track_id)]

    def subset(self, track_ids: Iterable[str]) -> EmbeddingSet:
        """The tracks of ``track_ids`` that this set holds (with their segments), in this set's order."""
        wanted = set(track_ids)
        keep = np.array([t in wanted for t in self.track_ids], dtype=bool)
        new_row = np.cumsum(keep) - 1
        segment_fields: dict[str, np.ndarray | None] = {}
        if self.segments is not None and self.segment_track_index is not None:
            alive = keep[self.segment_track_index]
            segment_fields = {
                "segments": self.segments[alive],
                "segment_track_index": new_row[self.segment_track_index[alive]],
                "segment_start_s": None if self.segment_start_s is None else self.segment_start_s[alive],
                "segment_end_s": None if self.segment_end_s is None else self.segment_end_s[alive],
            }
        return EmbeddingSet(
            track_ids=[t for t, k in zip(self.track_ids, keep, strict=True) if k],
            track=self.track[keep],
            attrs=dict(self.attrs),
            **segment_fields,
        )

    def segments_of(self, track_id: str) -> np.ndarray:
        """The (n_segments, *shape) embeddings of one track, in time order."""
        if self.segments is None or self.segment_track_index is None:
            raise LookupError("this embedding set has no segments")
        return self.segments[self.segment_track_index == self.track_ids.index(track_id)]


def write_embeddings(
    out_dir: Path,
    name: str,
    embeddings: Sequence[TrackEmbedding],
    *,
    model_id: str,
    pooling: str,
    attrs: Mapping[str, AttrValue] | None = None,
) -> Path:
    """Write ``out_dir/<name>.h5`` through a temporary file, so readers see the old file or the new one."""
    if not name or "/" in name or os.sep in name:
        raise ValueError(f"{name!r} cannot be used as a file name")
    ids = [e.track_id for e in embeddings]
    if len(set(ids)) != len(ids):
        raise ValueError(f"duplicate track ids in {name}")
    shapes = {e.track.shape for e in embeddings}
    if len(shapes) > 1:
        raise ValueError(f"embeddings of {name} have different shapes: {sorted(shapes)}")
    shape = shapes.pop() if shapes else (0,)

    path = Path(out_dir) / f"{name}.h5"
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.create_dataset("track_ids", data=ids, dtype=h5py.string_dtype("utf-8"))
            track = np.stack([e.track for e in embeddings]) if embeddings else np.zeros((0, *shape))
            f.create_dataset("track", data=track.astype(np.float32))
            with_segments = [(row, e) for row, e in enumerate(embeddings) if e.segments is not None]
            if with_segments:
                f.create_dataset(
                    "segments", data=np.concatenate([e.segments for _, e in with_segments]).astype(np.float32)
                )
                f.create_dataset(
                    "segment_track_index",
                    data=np.concatenate([np.full(len(e.segments), row, dtype=np.int64) for row, e in with_segments]),
                )
                for key in ("segment_start_s", "segment_end_s"):
                    f.create_dataset(
                        key, data=np.concatenate([getattr(e, key) for _, e in with_segments]).astype(np.float64)
                    )
            f.attrs.update(
                {
                    **(attrs or {}),
                    "model_id": model_id,
                    "dim": int(shape[-1]),
                    "pooling": pooling,
                    "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                    "melodex_version": _melodex_version(),
                }
            )
    return path


def read_embeddings(path: Path) -> EmbeddingSet:
    with h5py.File(path, "r") as f:
        has_segments = "segments" in f
        return EmbeddingSet(
            track_ids=list(f["track_ids"].asstr()[()]),
            track=f["track"][()],
            attrs={k: v.item() if isinstance(v, np.generic) else v for k, v in f.attrs.items()},
            segments=f["segments"][()] if has_segments else None,
            segment_track_index=f["segment_track_index"][()] if has_segments else None,
            segment_start_s=f["segment_start_s"][()] if has_segments else None,
            segment_end_s=f["segment_end_s"][()] if has_segments else None,
        )


def read_embedding_files(paths: Iterable[Path]) -> EmbeddingSet:
    """Concatenate several files of the same model; a track present twice keeps its last file's rows."""
    sets = [read_embeddings(p) for p in paths]
    if not sets:
        raise ValueError("no embedding files given")
    # An empty file (every track of its batch failed) has no shape to compare.
    reference = next((s for s in sets if len(s)), sets[0])
    for other in sets:
        same = (other.model_id, other.attrs.get("pooling"), other.track.shape[1:]) == (
            reference.model_id,
            reference.attrs.get("pooling"),
            reference.track.shape[1:],
        )
        if len(other) and not same:
            raise ValueError(
                f"cannot mix embeddings of {reference.model_id} and {other.model_id} (or their pooling/shape)"
            )

    ids = [t for s in sets for t in s.track_ids]
    last_row = {t: row for row, t in enumerate(ids)}
    keep = np.array([last_row[t] == row for row, t in enumerate(ids)], dtype=bool)
    new_row = np.cumsum(keep) - 1  # position of each kept row after dropping the others
    track = np.concatenate([s.track for s in sets if len(s)] or [reference.track])

    offsets = np.cumsum([0] + [len(s) for s in sets[:-1]])
    with_segments = [(offset, s) for offset, s in zip(offsets, sets, strict=True) if s.segments is not None]
    segment_fields: dict[str, np.ndarray | None] = dict.fromkeys(
        ("segments", "segment_track_index", "segment_start_s", "segment_end_s")
    )
    if with_segments:
        global_row = np.concatenate([s.segment_track_index + offset for offset, s in with_segments])
        alive = keep[global_row]
        segment_fields = {
            "segments": np.concatenate([s.segments for _, s in with_segments])[alive],
            "segment_track_index": new_row[global_row[alive]],
            "segment_start_s": np.concatenate([s.segment_start_s for _, s in with_segments])[alive],
            "segment_end_s": np.concatenate([s.segment_end_s for _, s in with_segments])[alive],
        }
    return EmbeddingSet(
        track_ids=[t for t, k in zip(ids, keep, strict=True) if k],
        track=track[keep],
        attrs=dict(reference.attrs),
        **segment_fields,
    )


def _melodex_version() -> str:
    try:
        return metadata.version("melodex")
    except metadata.PackageNotFoundError:  # running from a source tree that is not installed
        return "unknown"
