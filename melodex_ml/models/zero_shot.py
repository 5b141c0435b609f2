"""The zero-shot genre model: the user's genre names mapped onto MusiCNN tags, applied to segment tag vectors.

Nothing is learned from labelled tracks: the mapping (:func:`melodex_ml.search.zero_shot_genre.map_genres`)
is computed once from the genre names with the sentence encoder, and prediction is a matrix product with
the segment's tag probabilities (:func:`~melodex_ml.search.zero_shot_genre.genre_probabilities`). So the
saved model is the mapping's weights (``zero_shot_mapping.npz``) and the matches it came from (the card's
``extra``); loading and predicting need neither the sentence encoder nor torch. Its embedding is its
input, the 100 tag probabilities (``embedding_source="input"``): a space where tracks that share tags are
near, whatever the genres.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from melodex_ml.embeddings.segment_tags import tag_columns
from melodex_ml.models.genre_model import TAGS, GenreModel, ModelCard, SegmentInputs, as_matrix
from melodex_ml.search.text_search import TagMatch
from melodex_ml.search.vocabulary import TagColumn
from melodex_ml.search.zero_shot_genre import GenreMapping, genre_probabilities

KIND = "zero-shot"
CANDIDATE = "zero-shot-tags"
_MAPPING_FILE = "zero_shot_mapping.npz"


def column_name(column: TagColumn) -> str:
    return f"{column.source}/{column.label}"


def mapping_card(mapping: GenreMapping, task: str, **extra: object) -> ModelCard:
    """The card of a model over ``mapping``: the genres are its labels, the matched tags are in ``extra``."""
    columns = tag_columns()
    if mapping.weights.shape != (len(mapping.genres), len(columns)):
        raise ValueError(f"mapping weights {mapping.weights.shape} do not cover the {len(columns)} MusiCNN tags")
    matches = {
        genre: [{"column": m.column, "tag": column_name(m.tag), "similarity": round(m.similarity, 6),
                 "weight": round(m.weight, 6)} for m in genre_matches]
        for genre, genre_matches in zip(mapping.genres, mapping.matches, strict=True)
    }  # fmt: skip
    return ModelCard(
        kind=KIND, candidate=CANDIDATE, task=task, input_kind=TAGS, labels=tuple(mapping.genres),
        embedding_source="input", embedding_dim=len(columns),
        extra={"input_dim": len(columns), "tag_columns": [f"{m}/{label}" for m, label in columns],
               "matches": matches, "unmatched": list(mapping.unmatched), **extra},
    )  # fmt: skip


class ZeroShotGenreModel(GenreModel):
    """Genre probabilities of a segment from its tag probabilities, through a fixed genre -> tags mapping."""

    def __init__(self, card: ModelCard, mapping: GenreMapping):
        super().__init__(card)
        if tuple(mapping.genres) != tuple(card.labels):
            raise ValueError(f"mapping genres {list(mapping.genres)} differ from the card's labels {list(card.labels)}")
        expected = [f"{m}/{label}" for m, label in tag_columns()]
        if list(card.extra.get("tag_columns", expected)) != expected:
            raise ValueError("the model's tag columns differ from the MusiCNN tag vectors this Melodex builds")
        self.mapping = mapping

    @classmethod
    def from_mapping(cls, mapping: GenreMapping, task: str, **extra: object) -> ZeroShotGenreModel:
        return cls(mapping_card(mapping, task, **extra), mapping)

    def _matrix(self, inputs: SegmentInputs) -> np.ndarray:
        return as_matrix(inputs, self.card.embedding_dim)

    def predict_segments(self, inputs: SegmentInputs) -> np.ndarray:
        return genre_probabilities(self.mapping, self._matrix(inputs))

    def embed(self, inputs: SegmentInputs) -> np.ndarray:
        return self._matrix(inputs)

    def _save_weights(self, folder: Path) -> None:
        genres = np.asarray(self.mapping.genres, dtype=str)
        np.savez(folder / _MAPPING_FILE, weights=self.mapping.weights, genres=genres)

    @classmethod
    def _load(cls, folder: Path, card: ModelCard) -> ZeroShotGenreModel:
        with np.load(folder / _MAPPING_FILE) as saved:
            weights, genres = saved["weights"].astype(np.float32), tuple(saved["genres"].tolist())
        matches = tuple(
            tuple(TagMatch(m["column"], TagColumn(*m["tag"].split("/", 1)), m["similarity"], m["weight"])
                  for m in card.extra["matches"].get(genre, []))
            for genre in genres
        )  # fmt: skip
        return cls(card, GenreMapping(genres, weights, matches))
