"""Nearest tracks by cosine similarity over a matrix of track vectors (numpy only, no index structure).

Rows are L2-normalised once when the index is built, so a query is one matrix-vector product and a
partial sort: about 5 ms for 100,000 x 200 float32 on one core (``benchmarks/bench_musicnn.py``). A zero
row (a track whose vector is all zeros) has similarity 0 to everything rather than NaN.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Neighbour:
    row: int
    similarity: float
    track_id: str | None = None


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """float32 copy with every row scaled to length 1 (zero rows stay zero); refuses NaN/Inf."""
    matrix = np.asarray(vectors, dtype=np.float32)
    if matrix.ndim != 2:
        raise ValueError(f"expected a (tracks, dim) matrix, got shape {matrix.shape}")
    if not np.isfinite(matrix).all():
        raise ValueError("track vectors contain NaN or Inf")
    # einsum sums the squares without a temporary matrix; a zero row is divided by 1 and stays zero
    norms = np.sqrt(np.einsum("ij,ij->i", matrix, matrix))[:, None]
    return matrix / np.where(norms > 0, norms, np.float32(1))


class CosineIndex:
    def __init__(self, vectors: np.ndarray, track_ids: Sequence[str] | None = None):
        self.matrix = unit_rows(vectors)
        if track_ids is not None and len(track_ids) != len(self.matrix):
            raise ValueError(f"{len(track_ids)} track ids for {len(self.matrix)} vectors")
        self.track_ids = list(track_ids) if track_ids is not None else None

    def __len__(self) -> int:
        return len(self.matrix)

    def search(self, query: np.ndarray, k: int = 10, *, exclude: int | None = None) -> list[Neighbour]:
        """The ``k`` rows most similar to ``query``, best first, leaving out row ``exclude``."""
        query = np.asarray(query, dtype=np.float32).ravel()
        if query.shape[0] != self.matrix.shape[1]:
            raise ValueError(f"query has {query.shape[0]} dimensions, the index {self.matrix.shape[1]}")
        if not np.isfinite(query).all():
            raise ValueError("query vector contains NaN or Inf")
        norm = float(np.linalg.norm(query))
        scores = self.matrix @ (query / norm if norm > 0 else query)
        if exclude is not None:
            scores[exclude] = -np.inf
        available = len(scores) - (exclude is not None)
        k = max(0, min(k, available))
        if k == 0:
            return []
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.lexsort((top, -scores[top]))]  # best first; ties in row order, so results are stable
        return [self._neighbour(int(row), float(scores[row])) for row in top]

    def similar_to(self, row: int, k: int = 10) -> list[Neighbour]:
        """Neighbours of a stored track, which is not its own neighbour."""
        if not 0 <= row < len(self):
            raise IndexError(f"row {row} is not in an index of {len(self)} tracks")
        return self.search(self.matrix[row], k, exclude=row)

    def _neighbour(self, row: int, similarity: float) -> Neighbour:
        return Neighbour(row, similarity, None if self.track_ids is None else self.track_ids[row])


def cosine_top_k(vectors: np.ndarray, query: np.ndarray, k: int = 10, *, exclude: int | None = None) -> list[Neighbour]:
    """One-off search; build a :class:`CosineIndex` once to query the same vectors repeatedly."""
    return CosineIndex(vectors).search(query, k, exclude=exclude)
