"""`melodex similar`, `melodex search` and `melodex models compare` through real subprocesses, on a
store the real scan and MusiCNN stage filled and an MLflow store real candidates were logged to."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
from test_cli_support import melodex, query

from melodex_ml import experiments, registry
from melodex_ml.demo import STYLES, generate_demo_library
from melodex_ml.models.cache import process_cache
from melodex_ml.settings import MelodexSettings
from melodex_ml.stages import embeddings, scan
from melodex_ml.training.evaluation_split import make_evaluation_split
from melodex_ml.training.inputs import SegmentVectors
from melodex_ml.training.probes import train_logistic_probe
from tests.genre_fixtures import blob_library, taxonomy_of

COPY = "copy of the first track.flac"
KEYS = ["track_id", "path", "title", "artist"]

# What `melodex similar` documents it answers (sql/queries.sql, similar_tracks), unrounded, for one track.
SIMILAR_SQL = """
WITH query AS (SELECT track_id, embedding FROM track_embeddings WHERE model = 'msd-musicnn' AND track_id = ?)
SELECT t.track_id, array_cosine_similarity(e.embedding, q.embedding) AS similarity
FROM track_embeddings e JOIN live_tracks t USING (track_id), query q
WHERE e.model = 'msd-musicnn' AND e.track_id <> q.track_id
ORDER BY similarity DESC LIMIT ?
"""


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A demo library with one style per track plus a quieter FLAC copy of the first track, scanned
    and embedded by the real stages into a fresh MELODEX_HOME."""
    root = tmp_path_factory.mktemp("library")
    truth = generate_demo_library(root, n_tracks=len(STYLES), seed=11, duration_range=(12.0, 13.0))
    audio, rate = sf.read(root / truth[0].path)
    sf.write(root / COPY, 0.5 * audio, rate)
    home = tmp_path_factory.mktemp("store") / "home"
    settings = MelodexSettings(home=home, library_roots=[root])
    for batch in scan.scan_and_batch(settings).metadata["batch_ids"]:
        embeddings.embed_batch(settings, batch, cache=process_cache())
    ids = dict(query(home, "SELECT path, track_id FROM live_tracks"))
    return home, root, truth, ids


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Two candidates logged on one split, the better one made champion."""
    home = tmp_path_factory.mktemp("trained") / "home"
    settings = MelodexSettings(home=home)
    library = blob_library(separation=6.0)
    taxonomy = taxonomy_of(library)
    split = make_evaluation_split(taxonomy)
    noise = SegmentVectors(np.random.default_rng(1).normal(size=library.vectors.values.shape).astype(np.float32),
                           library.vectors.track_ids, "embedding:noise")  # fmt: skip
    good = train_logistic_probe(library.vectors, taxonomy, split)
    bad = train_logistic_probe(noise, taxonomy, split)
    logged = {r.candidate: (r, experiments.log_candidate(r, settings)) for r in (good, bad)}
    champion = registry.promote_champion(settings, split_hash=split.split_hash).champion
    assert champion == logged[good.candidate][1].version
    return home, split, logged, good.candidate


def loads(done) -> list[dict]:
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def test_similar_tracks_of_a_track_id_agree_with_the_documented_sql(store):
    home, root, truth, ids = store
    track = ids[str(root / truth[2].path)]
    done = melodex("similar", track, "--k", "4", "--format", "json", home=home)
    found = loads(done)
    assert len(found) == 4 and all(list(row) == [*KEYS, "similarity"] for row in found)
    assert track not in {row["track_id"] for row in found}
    scores = [row["similarity"] for row in found]
    assert scores == sorted(scores, reverse=True)
    expected = query(home, SIMILAR_SQL, track, 4)
    meta = {t: (p, ti, a) for t, p, ti, a in query(home, "SELECT track_id, path, title, artist FROM live_tracks")}
    assert [row["track_id"] for row in found] == [t for t, _ in expected]
    assert scores == pytest.approx([s for _, s in expected], abs=1e-5)
    assert all(tuple(row[k] for k in KEYS[1:]) == meta[row["track_id"]] for row in found)
    # stdout is the JSON alone; how it was answered and how fast is on stderr
    assert "answered by cosine over msd-musicnn track embeddings" in done.stderr and " ms" in done.stderr
    assert "Traceback" not in done.stderr


def test_similar_as_a_table_says_how_and_how_fast_above_the_rows(store):
    home, root, truth, ids = store
    track = ids[str(root / truth[2].path)]
    done = melodex("similar", track, "--k", "2", home=home)
    assert done.returncode == 0 and done.stderr == ""
    lines = done.stdout.splitlines()
    assert lines[0].startswith("answered by cosine over msd-musicnn track embeddings") and " ms, 2 tracks" in lines[0]
    header = next(text for text in lines if "track_id" in text)
    assert header.split() == [*KEYS, "similarity"]
    expected = query(home, SIMILAR_SQL, track, 2)
    assert all(any(t in text for text in lines) for t, _ in expected)


def test_a_copy_outside_the_store_finds_its_original_first(store, tmp_path):
    home, root, truth, ids = store
    audio, rate = sf.read(root / truth[1].path)
    outside = tmp_path / "not in the library.wav"
    sf.write(outside, 0.8 * np.asarray(audio), rate)
    found = loads(melodex("similar", str(outside), "--k", "2", "--format", "json", home=home))
    assert found[0]["track_id"] == ids[str(root / truth[1].path)] and found[0]["path"] == str(root / truth[1].path)
    assert found[0]["similarity"] > 0.95 > found[1]["similarity"]


@pytest.mark.parametrize(
    ("args", "where", "message"),
    [
        (["similar", "0123abcd"], "store", "0123abcd is neither a track id, a path in the library, nor an audio file"),
        (["similar", "0123abcd", "--format", "json"], "empty", "no feature store at"),
        (["search", "piano"], "empty", "no feature store at"),
        (["search", "   "], "store", "empty search query"),
        (["models", "compare"], "empty", "no MLflow store at"),
        (["models", "compare", "--format", "json"], "store", "no MLflow store at"),
    ],
)
def test_nothing_to_answer_is_one_error_line(store, tmp_path, args, where, message):
    home = store[0] if where == "store" else tmp_path / "empty home"
    done = melodex(*args, home=home)
    assert done.returncode == (1 if args[0] == "models" else 2)
    assert len(done.error_lines) == 1 and done.error_lines[0].startswith("error: "), done.stderr
    assert message in done.error_lines[0] and done.stdout == ""
    assert where == "store" or not home.exists()  # asking does not create a home


def test_text_search_returns_scores_and_says_how_it_answered(store):
    home, root, truth, ids = store
    done = melodex("search", "piano", "--k", "3", "--format", "json", home=home)
    found = loads(done)
    assert len(found) == 3 and all(list(row) == [*KEYS, "score"] for row in found)
    assert [row["score"] for row in found] == sorted((row["score"] for row in found), reverse=True)
    assert set(ids.values()) >= {row["track_id"] for row in found}
    assert done.stderr.startswith("answered by zero-shot tag search: piano (mtt-musicnn)"), done.stderr
    assert "Traceback" not in done.stderr

def test_models_compare_shows_the_candidates_side_by_side(trained):
    home, split, logged, best = trained
    done = melodex("models", "compare", "--format", "json", home=home)
    rows = loads(done)
    title = f"genre candidates on split {split.split_hash}, {len(split.test_track_ids)} test tracks"
    assert done.stderr.strip() == title  # on stderr, so that stdout stays one JSON document
    assert [row["candidate"] for row in rows] == [best, "probe-logreg:noise:segment"]
    for row in rows:
        result, registered = logged[row["candidate"]]
        assert row["version"] == registered.version and row["mlflow_run_id"] == registered.run_id
        assert row["macro_f1"] == pytest.approx(result.evaluation.macro_f1)
        assert row["accuracy"] == pytest.approx(result.evaluation.accuracy)
        assert row["train_seconds"] >= 0 and row["split_hash"] == split.split_hash
        assert row["test_tracks"] == len(split.test_track_ids)
        assert row["champion"] is (row["candidate"] == best)

    done = melodex("models", "compare", home=home)
    assert done.returncode == 0 and done.stderr == ""
    lines = done.stdout.splitlines()
    assert lines[0].rstrip() == title
    header = lines[1].split()
    assert header == ["candidate", "version", "accuracy", "macro_f1", "train_seconds", "test_tracks", "champion",
                      "split_hash", "mlflow_run_id"]  # fmt: skip
    champion_line = next(text for text in lines if best in text)
    assert champion_line.split()[1] == logged[best][1].version and " * " in champion_line
    assert champion_line.split()[-1] == logged[best][1].run_id
