"""Zero-shot text search: a query is matched to tag names by sentence embedding, tracks ranked by those tags.

Scoring, for a query ``q`` (a unit vector from the same sentence encoder as the vocabulary):

1. similarity ``s_j = q . v_j`` to every vocabulary column ``j`` (cosine, as both are unit vectors);
2. the matched tags are the columns within ``margin`` (0.05) of the best similarity ``s*``, at most
   ``max_tags`` (4) of them and none below ``min_similarity`` (0.4: below it the query names nothing in the
   vocabulary, e.g. "xyzzy", and no tag is matched). Identical labels of the two models tie, so "guitar" takes both;
3. each matched tag is weighted ``w_j = exp((s_j - s*) / temperature) / sum_k exp((s_k - s*) / temperature)``
   with temperature 0.02, so a tag 0.05 below the best counts about 8% as much;
4. a track's score is ``sum_j w_j * p_tj``, its score in the track matrix (a MusiCNN tag probability, or 1/0
   for a user label), and tracks are ranked by it, ties in row order.

Known limit: sentence encoders of this size do not understand negation well ("without vocals" lies about as
close to "vocals" as to "no vocals"); the margin and temperature keep such near-ties from dominating.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from melodex_ml.search.vocabulary import Encode, TagColumn, TagVocabulary


@dataclass(frozen=True)
class MatchConfig:
    margin: float = 0.05
    max_tags: int = 4
    min_similarity: float = 0.4
    temperature: float = 0.02


SEARCH_MATCH = MatchConfig()


@dataclass(frozen=True)
class TagMatch:
    column: int
    tag: TagColumn
    similarity: float
    weight: float


@dataclass(frozen=True)
class RankedTrack:
    row: int
    score: float


def match_tags(
    query_vector: np.ndarray, vocabulary: TagVocabulary, config: MatchConfig = SEARCH_MATCH
) -> list[TagMatch]:
    """The vocabulary columns a query stands for, with their weights (summing to 1); [] when nothing is close."""
    query = np.asarray(query_vector, dtype=np.float32).ravel()
    similarities = vocabulary.vectors @ (query / max(float(np.linalg.norm(query)), 1e-12))
    order = np.argsort(-similarities, kind="stable")
    best = float(similarities[order[0]])
    if best < config.min_similarity:
        return []
    chosen = [int(j) for j in order[: config.max_tags] if similarities[j] >= best - config.margin]
    logits = (similarities[chosen] - best) / config.temperature
    weights = np.exp(logits) / np.exp(logits).sum()
    return [
        TagMatch(j, vocabulary.columns[j], float(similarities[j]), float(w))
        for j, w in zip(chosen, weights, strict=True)
    ]


def rank_tracks(track_matrix: np.ndarray, matches: list[TagMatch], k: int = 10) -> list[RankedTrack]:
    """The ``k`` best tracks for the matched tags (see the module's scoring); [] when nothing matched."""
    if not matches or k <= 0 or not len(track_matrix):
        return []
    columns = [m.column for m in matches]
    weights = np.array([m.weight for m in matches], dtype=np.float32)
    scores = np.asarray(track_matrix, dtype=np.float32)[:, columns] @ weights
    k = min(k, len(scores))
    top = np.argpartition(-scores, k - 1)[:k]
    top = top[np.lexsort((top, -scores[top]))]
    return [RankedTrack(int(row), float(scores[row])) for row in top]


def search(
    query: str,
    encode: Encode,
    vocabulary: TagVocabulary,
    track_matrix: np.ndarray,
    k: int = 10,
    config: MatchConfig = SEARCH_MATCH,
) -> tuple[list[TagMatch], list[RankedTrack]]:
    """Embed ``query``, match it to tags and rank the tracks: (matched tags, best tracks)."""
    if not query.strip():
        raise ValueError("empty search query")
    matches = match_tags(encode([query])[0], vocabulary, config)
    return matches, rank_tracks(track_matrix, matches, k)
