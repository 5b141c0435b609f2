"""Zero-shot genres: each of the user's genre names is matched to MusiCNN tags by text similarity (as a search
query is, :func:`melodex_ml.search.text_search.match_tags`), and a track's genre probabilities come from its
tag probabilities, before any classifier is trained.

For genre ``g`` with matched tags ``j`` and weights ``w_gj`` (summing to 1), the evidence is
``e_g = sum_j w_gj p_tj``. Probabilities over the user's genres are ``e_g / sum_h e_h`` (uniform for a track
whose evidence is all zero). A genre that matches no tag (similarity under ``min_similarity``) gets no
evidence, and is reported in :attr:`GenreMapping.unmatched`. Genres are matched more strictly than search
queries (:data:`GENRE_MATCH`, similarity >= 0.7): with all-MiniLM-L6-v2, a genre the vocabulary has ("Rock",
"Jazz", "Hip hop") matches its tag at 0.9 to 1.0, while one it lacks ("Reggae", "Bossa nova") would otherwise
pick unrelated tags at 0.5 to 0.65 ("violin", "sitar").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from melodex_ml.search.text_search import MatchConfig, TagMatch, match_tags
from melodex_ml.search.vocabulary import USER, Encode, TagVocabulary, label_text

GENRE_MATCH = MatchConfig(min_similarity=0.7)


@dataclass(frozen=True)
class GenreMapping:
    genres: tuple[str, ...]
    weights: np.ndarray = field(repr=False)  # (genres, vocabulary columns), rows sum to 1 (or 0: unmatched)
    matches: tuple[tuple[TagMatch, ...], ...]  # per genre, the tags it stands for

    @property
    def unmatched(self) -> tuple[str, ...]:
        return tuple(g for g, m in zip(self.genres, self.matches, strict=True) if not m)


def map_genres(
    genres: Sequence[str], encode: Encode, vocabulary: TagVocabulary, config: MatchConfig = GENRE_MATCH
) -> GenreMapping:
    """Match every genre name to the vocabulary's model tags (user labels are left out: they are not evidence)."""
    genres = tuple(dict.fromkeys(genres))
    if not genres:
        raise ValueError("no genre labels given")
    model_columns = [i for i, c in enumerate(vocabulary.columns) if c.source != USER]
    if not model_columns:
        raise ValueError("the vocabulary has no model tags")
    tags_only = TagVocabulary(tuple(vocabulary.columns[i] for i in model_columns), vocabulary.vectors[model_columns])
    weights = np.zeros((len(genres), len(vocabulary)), dtype=np.float32)
    all_matches = []
    for g, vector in enumerate(np.asarray(encode([label_text(genre) for genre in genres]), dtype=np.float32)):
        matches = tuple(
            TagMatch(model_columns[m.column], m.tag, m.similarity, m.weight)
            for m in match_tags(vector, tags_only, config)
        )
        for m in matches:
            weights[g, m.column] = m.weight
        all_matches.append(matches)
    return GenreMapping(genres, weights, tuple(all_matches))


def genre_probabilities(mapping: GenreMapping, track_matrix: np.ndarray) -> np.ndarray:
    """(tracks, genres) probabilities, rows summing to 1."""
    evidence = np.asarray(track_matrix, dtype=np.float32) @ mapping.weights.T
    total = evidence.sum(axis=1, keepdims=True)
    uniform = np.full_like(evidence, 1.0 / len(mapping.genres))
    return np.divide(evidence, total, out=uniform, where=total > 0)
