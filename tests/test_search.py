"""Similar tracks, zero-shot text search and zero-shot genres, against constructed ground truth."""

from __future__ import annotations

import math

import numpy as np
import pytest

from melodex_ml.search.similarity import CosineIndex, cosine_top_k
from melodex_ml.search.text_search import MatchConfig, match_tags, rank_tracks, search
from melodex_ml.search.vocabulary import USER, TagColumn, TagVocabulary, label_text
from melodex_ml.search.zero_shot_genre import genre_probabilities, map_genres

# --------------------------------------------------------------------------- cosine neighbours


def test_neighbours_are_ranked_by_angle_not_length_and_exclude_the_query():
    base = np.array([1.0, 2.0, 0.0, 0.0])
    vectors = np.stack(
        [
            base,  # 0: the query
            10 * base,  # 1: same direction, longer
            base + np.array([0, 0, 1.0, 0]),  # 2: close
            np.array([0, 0, 0, 1.0]),  # 3: orthogonal
            -base,  # 4: opposite
            np.zeros(4),  # 5: no direction at all
        ]
    )
    index = CosineIndex(vectors, track_ids=[f"t{i}" for i in range(6)])
    got = index.similar_to(0, k=10)
    assert [n.track_id for n in got] == ["t1", "t2", "t3", "t5", "t4"]
    expected_close = base @ vectors[2] / (np.linalg.norm(base) * np.linalg.norm(vectors[2]))
    assert [n.similarity for n in got] == pytest.approx([1.0, expected_close, 0.0, 0.0, -1.0], abs=1e-6)
    assert [n.row for n in index.search(base, k=2)] == [0, 1]  # a query from outside keeps every row
    assert index.similar_to(5, k=1)[0].similarity == 0.0  # a zero vector is not NaN


def test_top_k_matches_a_brute_force_ranking():
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((2000, 200)).astype(np.float32)
    query = rng.standard_normal(200).astype(np.float32)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    brute = np.argsort(-(unit @ (query / np.linalg.norm(query))))
    got = cosine_top_k(vectors, query, k=10, exclude=int(brute[0]))
    assert [n.row for n in got] == brute[1:11].tolist()


def test_bad_vectors_and_queries_are_refused():
    with pytest.raises(ValueError, match="NaN"):
        CosineIndex(np.array([[1.0, np.nan]]))
    index = CosineIndex(np.eye(3))
    with pytest.raises(ValueError, match="dimensions"):
        index.search(np.ones(4))
    with pytest.raises(IndexError):
        index.similar_to(3)
    assert index.search(np.ones(3), k=0) == []
    assert len(CosineIndex(np.eye(1)).similar_to(0)) == 0  # the only track has no neighbour


# --------------------------------------------------------------------------- matching with hand-made vectors


def _unit_with_similarity(similarity: float, axis: int, dim: int = 8) -> np.ndarray:
    """A unit vector whose cosine with e0 is ``similarity``."""
    v = np.zeros(dim, np.float32)
    v[0], v[axis] = similarity, math.sqrt(1 - similarity**2)
    return v


def _vocabulary(similarities: dict[tuple[str, str], float]) -> TagVocabulary:
    columns = tuple(TagColumn(source, label) for source, label in similarities)
    vectors = np.stack([_unit_with_similarity(s, i + 1) for i, s in enumerate(similarities.values())])
    return TagVocabulary(columns, vectors)


QUERY = np.eye(8, dtype=np.float32)[0]


def test_matched_tags_are_the_near_best_ones_weighted_by_similarity():
    vocabulary = _vocabulary(
        {("mtt", "piano"): 0.90, ("msd", "piano-ish"): 0.87, ("mtt", "guitar"): 0.50, (USER, "Keys"): 0.86}
    )
    matches = match_tags(QUERY, vocabulary)
    assert [(m.tag.label, round(m.similarity, 4)) for m in matches] == [
        ("piano", 0.9),
        ("piano-ish", 0.87),
        ("Keys", 0.86),
    ]
    raw = np.exp(np.array([0.0, -0.03, -0.04]) / 0.02)
    assert [m.weight for m in matches] == pytest.approx(list(raw / raw.sum()), rel=1e-4)
    assert match_tags(QUERY, vocabulary, MatchConfig(max_tags=1))[0].weight == pytest.approx(1.0)
    assert match_tags(QUERY, _vocabulary({("mtt", "guitar"): 0.2})) == []  # nothing is close enough


def test_tracks_rank_by_the_weighted_probabilities_of_the_matched_tags():
    vocabulary = _vocabulary({("mtt", "piano"): 0.9, ("mtt", "guitar"): 0.3})
    tracks = np.array([[0.1, 0.9], [0.8, 0.1], [0.5, 0.5], [0.95, 0.0]], np.float32)  # (piano, guitar)
    ranked = rank_tracks(tracks, match_tags(QUERY, vocabulary), k=3)
    assert [(r.row, r.score) for r in ranked] == [(3, pytest.approx(0.95)), (1, pytest.approx(0.8)), (2, 0.5)]
    assert rank_tracks(tracks, [], k=3) == []


def test_the_track_matrix_places_model_probabilities_and_user_labels():
    vocabulary = _vocabulary({("a", "x"): 0.9, ("b", "y"): 0.8, ("b", "z"): 0.7, (USER, "Shoegaze"): 0.6})
    matrix = vocabulary.track_matrix(
        {"a": np.array([[0.1], [0.2]]), "b": np.array([[0.3, 0.4], [0.5, 0.6]])},
        user_tags=[{"shoegaze"}, set()],
    )
    np.testing.assert_allclose(matrix, [[0.1, 0.3, 0.4, 1.0], [0.2, 0.5, 0.6, 0.0]])
    with pytest.raises(ValueError, match="no tag probabilities"):
        vocabulary.track_matrix({"a": np.zeros((2, 1))})
    with pytest.raises(ValueError, match="labels"):
        vocabulary.track_matrix({"a": np.zeros((2, 1)), "b": np.zeros((2, 3))})


def test_genre_probabilities_follow_the_tags_each_genre_maps_to():
    vocabulary = _vocabulary({("msd", "rock"): 0.0, ("msd", "jazz"): 0.0, (USER, "rock"): 0.0})
    vectors = {  # the genre names' embeddings: Rock is the rock tag, Jazz the jazz tag, Polka nothing
        label_text("Rock"): vocabulary.vectors[0],
        label_text("Jazz"): vocabulary.vectors[1],
        label_text("Polka"): np.eye(8, dtype=np.float32)[7],
    }
    mapping = map_genres(["Rock", "Jazz", "Polka"], lambda texts: np.stack([vectors[t] for t in texts]), vocabulary)
    assert mapping.unmatched == ("Polka",)
    assert mapping.weights[:, 2].sum() == 0  # user labels are no evidence for a genre
    tracks = np.array([[0.8, 0.2, 1.0], [0.1, 0.3, 0.0], [0.0, 0.0, 0.0]], np.float32)
    probabilities = genre_probabilities(mapping, tracks)
    np.testing.assert_allclose(probabilities, [[0.8, 0.2, 0.0], [0.25, 0.75, 0.0], [1 / 3, 1 / 3, 1 / 3]], atol=1e-6)


# --------------------------------------------------------------------------- with the bundled sentence encoder


@pytest.fixture(scope="module")
def vocabulary(encoder) -> TagVocabulary:
    return TagVocabulary.build(encoder.encode, user_labels=["Shoegaze"])


def test_a_query_for_piano_selects_the_piano_tag_and_the_piano_tracks(encoder, vocabulary):
    assert len(vocabulary) == 101
    n = 6
    msd, mtt = np.full((n, 50), 0.1, np.float32), np.full((n, 50), 0.1, np.float32)
    piano = vocabulary.columns.index(TagColumn("mtt-musicnn", "piano"))
    mtt[:, piano - 50] = [0.05, 0.9, 0.3, 0.7, 0.0, 0.2]
    matrix = vocabulary.track_matrix({"msd-musicnn": msd, "mtt-musicnn": mtt}, user_tags=[set()] * n)
    matches, ranked = search("piano", encoder.encode, vocabulary, matrix, k=3)
    assert matches[0].tag == TagColumn("mtt-musicnn", "piano") and matches[0].weight > 0.9
    assert [r.row for r in ranked] == [1, 3, 2]


@pytest.mark.parametrize(
    ("query", "tag"),
    [
        ("songs from the eighties", TagColumn("msd-musicnn", "80s")),
        ("sad songs", TagColumn("msd-musicnn", "sad")),
        ("rap", TagColumn("msd-musicnn", "Hip-Hop")),
        ("dreamy shoegaze", TagColumn(USER, "Shoegaze")),
    ],
)
def test_queries_find_eras_moods_genres_and_user_labels(encoder, vocabulary, query, tag):
    assert match_tags(encoder.encode([query])[0], vocabulary)[0].tag == tag


def test_nonsense_matches_nothing(encoder, vocabulary):
    assert match_tags(encoder.encode(["xyzzy"])[0], vocabulary) == []
    with pytest.raises(ValueError, match="empty"):
        search("  ", encoder.encode, vocabulary, np.zeros((1, len(vocabulary))))


def test_zero_shot_genres_from_tag_probabilities(encoder, vocabulary):
    mapping = map_genres(["Rock", "Jazz", "Classical", "Reggae"], encoder.encode, vocabulary)
    assert {m.tag.label for m in mapping.matches[0]} == {"rock"}  # both models' "rock"
    assert [m.tag.label for m in mapping.matches[1]] == ["jazz"]
    assert [m.tag.label for m in mapping.matches[2]] == ["classical"]
    assert mapping.unmatched == ("Reggae",)  # no MusiCNN tag is close to it
    n = 3
    msd, mtt = np.full((n, 50), 0.05, np.float32), np.full((n, 50), 0.05, np.float32)
    col = {c: i for i, c in enumerate(vocabulary.columns)}
    msd[0, col[TagColumn("msd-musicnn", "rock")]] = 0.9  # a rock track
    mtt[0, col[TagColumn("mtt-musicnn", "rock")] - 50] = 0.8
    msd[1, col[TagColumn("msd-musicnn", "jazz")]] = 0.7  # a jazz track
    mtt[2, col[TagColumn("mtt-musicnn", "classical")] - 50] = 0.95  # a classical piece
    probabilities = genre_probabilities(mapping, vocabulary.track_matrix({"msd-musicnn": msd, "mtt-musicnn": mtt}))
    assert probabilities.argmax(axis=1).tolist() == [0, 1, 2]
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-6)
    assert (probabilities[:, 3] == 0).all()
