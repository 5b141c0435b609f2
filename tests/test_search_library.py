"""Similar tracks and text search over a store the real scan and MusiCNN stage filled."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from melodex_ml.demo import STYLES, generate_demo_library
from melodex_ml.models.cache import process_cache
from melodex_ml.search.library import SearchError, search_text, similar_tracks
from melodex_ml.settings import MelodexSettings
from melodex_ml.stages import embeddings, scan
from melodex_ml.store import connect


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("library")
    truth = generate_demo_library(root, n_tracks=len(STYLES), seed=11, duration_range=(20.0, 21.0))
    # the same audio at half the level, as FLAC: a copy the nearest-neighbour search must find
    audio, rate = sf.read(root / truth[0].path)
    sf.write(root / "copy of the first track.flac", 0.5 * audio, rate)
    settings = MelodexSettings(home=tmp_path_factory.mktemp("home"), library_roots=[root])
    report = scan.scan_and_batch(settings)
    for batch in report.metadata["batch_ids"]:
        embeddings.embed_batch(settings, batch, cache=process_cache())
    with connect(settings.duckdb_path, read_only=True) as con:
        ids = dict(con.execute("SELECT path, track_id FROM live_tracks").fetchall())
    return settings, root, truth, ids


def test_the_nearest_track_of_a_copy_is_its_original_and_the_query_is_excluded(store):
    settings, root, truth, ids = store
    original = ids[str(root / truth[0].path)]
    copy = ids[str(root / "copy of the first track.flac")]
    answer = similar_tracks(settings, copy, k=3)
    assert [t.track_id for t in answer.tracks][0] == original
    assert answer.tracks[0].score > 0.8 and answer.tracks[0].score > answer.tracks[1].score
    assert copy not in {t.track_id for t in answer.tracks}
    # by path, and a file outside the store analysed on the fly, give the same neighbour
    assert similar_tracks(settings, str(root / "copy of the first track.flac"), k=1).tracks[0].track_id == original


def test_a_file_outside_the_store_is_analysed_on_the_fly(store, tmp_path):
    settings, root, truth, ids = store
    audio, rate = sf.read(root / truth[1].path)
    outside = tmp_path / "not in the library.wav"
    sf.write(outside, np.asarray(audio) * 0.8, rate)
    answer = similar_tracks(settings, str(outside), k=1)
    assert answer.tracks[0].track_id == ids[str(root / truth[1].path)] and answer.tracks[0].score > 0.95


def test_text_search_matches_the_users_own_genres_and_says_how(store):
    settings, root, truth, ids = store
    wanted = truth[2].genre
    answer = search_text(settings, wanted.lower(), k=3)
    assert answer.tracks[0].track_id == ids[str(root / truth[2].path)]
    assert answer.answered_by.startswith("zero-shot tag search") and "(user)" in answer.answered_by


@pytest.mark.parametrize(
    ("query", "message"),
    [("0123abcd", "neither a track id, a path in the library, nor an audio file")],
)
def test_unknown_queries_are_one_clear_line(store, query, message):
    with pytest.raises(SearchError, match=message):
        similar_tracks(store[0], query)


def test_an_empty_store_and_a_track_without_embeddings_are_clear(store, tmp_path):
    with pytest.raises(SearchError, match="no feature store"):
        similar_tracks(MelodexSettings(home=tmp_path / "nothing"), "x")
    settings, root, truth, ids = store
    track = ids[str(root / truth[3].path)]
    with connect(settings.duckdb_path) as con:
        con.execute("DELETE FROM track_embeddings WHERE track_id = ?", [track])
    with pytest.raises(SearchError, match="has no msd-musicnn embedding"):
        similar_tracks(settings, track)
    with pytest.raises(SearchError, match="empty search query"):
        search_text(settings, "  ")
