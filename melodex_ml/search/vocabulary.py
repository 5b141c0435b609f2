"""The tag vocabulary that text queries and genre names are matched against, and the tracks' scores for it.

Columns are the MusiCNN tags (50 MSD + 50 MTT, each under its model's name: "guitar" is in both and
stays two columns) and, optionally, the user's own labels (genres, moods, playlists from the library's
metadata) under the source ``"user"``. Every column's label is embedded with the sentence encoder as
``"<label> music"``: bare era and mood tags ("80s", "sad", "00s") embed poorly on their own, and the
template puts every label in the same context as a query about music. A few MSD tags are written out
first (``"rnb"`` -> ``"rnb, rhythm and blues"``) so that a query spelled out finds them.

A *track matrix* holds one row per track and one score in [0, 1] per column: MusiCNN tag probabilities,
and 1 or 0 for whether a track carries a user label.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from melodex_ml.embeddings.musicnn.specs import MODELS

USER = "user"
Encode = Callable[[Sequence[str]], np.ndarray]  # texts -> (n, dim) unit vectors, e.g. TextEncoder.encode
_SPELLED_OUT = {"rnb": "rnb, rhythm and blues", "00s": "00s, the 2000s", "Hip-Hop": "hip-hop, rap"}


@dataclass(frozen=True)
class TagColumn:
    source: str  # a MusiCNN model name or "user"
    label: str


def label_text(label: str) -> str:
    return f"{_SPELLED_OUT.get(label, label)} music"


def musicnn_tag_sets(models: Sequence[str] = tuple(MODELS)) -> dict[str, tuple[str, ...]]:
    return {name: MODELS[name].labels for name in models}


@dataclass(frozen=True)
class TagVocabulary:
    columns: tuple[TagColumn, ...]
    vectors: np.ndarray = field(repr=False)  # (columns, dim) unit vectors of label_text(label)

    @classmethod
    def build(
        cls, encode: Encode, tag_sets: Mapping[str, Sequence[str]] | None = None, user_labels: Sequence[str] = ()
    ) -> TagVocabulary:
        """Columns for ``tag_sets`` (default: both MusiCNN models) and the distinct ``user_labels``."""
        tag_sets = musicnn_tag_sets() if tag_sets is None else tag_sets
        columns = [TagColumn(source, label) for source, labels in tag_sets.items() for label in labels]
        columns += [TagColumn(USER, label) for label in dict.fromkeys(user_labels)]
        if not columns:
            raise ValueError("an empty tag vocabulary")
        vectors = np.asarray(encode([label_text(c.label) for c in columns]), dtype=np.float32)
        if vectors.shape[0] != len(columns):
            raise ValueError(f"the encoder returned {vectors.shape[0]} vectors for {len(columns)} labels")
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return cls(tuple(columns), vectors / np.maximum(norms, 1e-12))

    def __len__(self) -> int:
        return len(self.columns)

    def sources(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.source for c in self.columns))

    def track_matrix(
        self, model_tags: Mapping[str, np.ndarray], user_tags: Sequence[Collection[str]] | None = None
    ) -> np.ndarray:
        """(tracks, columns) scores: ``model_tags[model]`` is (tracks, n_labels) in that model's label order;
        ``user_tags[i]`` the user labels of track ``i`` (matched case-insensitively)."""
        n_tracks = {len(v) for v in model_tags.values()} | ({len(user_tags)} if user_tags is not None else set())
        if len(n_tracks) != 1:
            raise ValueError(f"track counts disagree: {sorted(n_tracks)}")
        matrix = np.zeros((n_tracks.pop(), len(self)), dtype=np.float32)
        for source in self.sources():
            cols = [i for i, c in enumerate(self.columns) if c.source == source]
            if source == USER:
                if user_tags is None:
                    continue
                wanted = [self.columns[i].label.casefold() for i in cols]
                for row, labels in enumerate(user_tags):
                    present = {label.casefold() for label in labels}
                    matrix[row, cols] = [label in present for label in wanted]
                continue
            if source not in model_tags:
                raise ValueError(f"no tag probabilities given for {source}")
            probabilities = np.asarray(model_tags[source], dtype=np.float32)
            if probabilities.shape[1] != len(cols):
                raise ValueError(f"{source}: {probabilities.shape[1]} probabilities per track for {len(cols)} labels")
            matrix[:, cols] = probabilities
        if not np.isfinite(matrix).all():
            raise ValueError("tag scores contain NaN or Inf")
        return matrix
