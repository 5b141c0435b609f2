"""Essentia TensorFlow heads: class order from the json, loaded once, missing ones reported, stored long."""

from collections import Counter
from pathlib import Path

import essentia.standard as es
import numpy as np
import pytest
from test_features_signals import SR, music, write

from melodex_ml.features import HEADS_TABLE, ExtractorConfig, FeatureExtractor
from melodex_ml.features.batch import shared_extractor
from melodex_ml.features.heads import HeadRunner, discover_heads
from toy_heads import write_toy_head
from melodex_ml.models.cache import ModelCache, process_cache
from melodex_ml.store import connect, replace_rows

# softmax([0, 2]): what a head with zero weights returns whatever it hears.
LOW, HIGH = 1 / (1 + np.e**2), np.e**2 / (1 + np.e**2)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    # Same graph (constant output [LOW, HIGH]), classes listed in opposite orders.
    write_toy_head(folder, "danceability-toy-1", ["danceable", "not_danceable"], [0, 0], [0, 2])
    write_toy_head(folder, "voice_instrumental-toy-1", ["voice", "instrumental"], [0, 0], [0, 2])
    # Input-dependent: the mean VGGish log-mel of our test music is about -2.3 at -6 dBFS and -4.5
    # at -56 dBFS, so logits 2 * (mean + 3.4) make loud audio "happy" and quiet audio not.
    write_toy_head(folder, "mood_happy-toy-1", ["happy", "non_happy"], [2, -2], [6.8, -6.8])
    # The same on embeddings: mood_happy's (batch, 1) mean log-mel through TensorflowPredict2D.
    write_toy_head(
        folder, "mood_sad-toy-1", ["sad", "non_sad"], [-2, 2], [-6.8, 6.8], embedding_model="mood_happy-toy-1"
    )
    write_toy_head(folder, "mood_party-broken-1", ["party", "non_party"], [1, -1], with_schema=False)
    (folder / "mood_relaxed-orphan-1.json").write_text('{"classes": ["relaxed", "non_relaxed"]}')
    return folder


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("audio")
    loud = music(40.0)
    loud_then_quiet = music(50.0)
    loud_then_quiet[30 * SR :] *= 0.003
    return {
        "loud": write(folder / "loud.wav", loud),
        "quiet": write(folder / "quiet.wav", loud * 0.003),
        "loud_then_quiet": write(folder / "loud_then_quiet.wav", loud_then_quiet),
    }


def config(models, expected=("danceability", "voice_instrumental", "mood_happy", "mood_sad", "tonal_atonal")):
    return ExtractorConfig(models_dir=models, expected_heads=expected)


def track_probabilities(result) -> dict[tuple[str, str], float]:
    return {(p.head, p.label): p.probability for p in result.heads if p.segment_index is None}


def test_discovery_reads_nodes_classes_and_embedding_model_from_json(models):
    heads, problems = discover_heads(models)
    by_head = {h.head: h for h in heads}
    assert by_head["voice_instrumental"].classes == ("voice", "instrumental")
    assert by_head["danceability"].graph.output == "model/Softmax"
    assert by_head["mood_sad"].embedding.model == "mood_happy-toy-1"
    assert by_head["mood_sad"].embedding.output == "model/Reshape"
    assert problems == ["mood_relaxed-orphan-1: mood_relaxed-orphan-1.pb is missing"]


def test_class_order_comes_from_each_heads_json(models, files):
    result = FeatureExtractor(config(models), cache=ModelCache()).extract(files["loud"])
    probabilities = track_probabilities(result)
    assert probabilities[("danceability", "danceable")] == pytest.approx(LOW, abs=1e-5)
    assert probabilities[("danceability", "not_danceable")] == pytest.approx(HIGH, abs=1e-5)
    assert probabilities[("voice_instrumental", "voice")] == pytest.approx(LOW, abs=1e-5)
    assert probabilities[("voice_instrumental", "instrumental")] == pytest.approx(HIGH, abs=1e-5)


def test_heads_hear_the_audio_directly_and_through_embeddings(models, files):
    extractor = FeatureExtractor(config(models), cache=ModelCache())
    loud, quiet = (track_probabilities(extractor.extract(files[k])) for k in ("loud", "quiet"))
    assert loud[("mood_happy", "happy")] > 0.9 > 0.1 > quiet[("mood_happy", "happy")]
    assert loud[("mood_sad", "sad")] < 0.1 < 0.9 < quiet[("mood_sad", "sad")]
    assert loud[("mood_happy", "happy")] + loud[("mood_happy", "non_happy")] == pytest.approx(1.0)


def test_segment_rows_and_patch_weighted_track_rows(models, files):
    result = FeatureExtractor(config(models), cache=ModelCache()).extract(files["loud_then_quiet"])
    happy = {p.segment_index: p.probability for p in result.heads if p.label == "happy"}
    assert set(happy) == {0, 1, None}  # segments 0-30 s and 30-50 s, and the track
    assert happy[0] > 0.9 and happy[1] < 0.1
    # The track value averages every 0.96 s patch: 30 s of loud patches, 20 s of quiet ones.
    assert happy[None] == pytest.approx(np.average([happy[0], happy[1]], weights=[30, 20]), abs=0.03)


def test_each_graph_is_loaded_once_per_process(models, files, monkeypatch):
    built = Counter()
    for name in ("TensorflowPredictVGGish", "TensorflowPredict2D"):
        real = getattr(es, name)

        def counting(real=real, **params):
            built[Path(params["graphFilename"]).stem] += 1
            return real(**params)

        monkeypatch.setattr(es, name, counting)
    cache = ModelCache()
    extractor = FeatureExtractor(config(models), cache=cache)
    for _ in range(3):
        extractor.extract(files["quiet"])
    FeatureExtractor(config(models), cache=cache).extract(files["quiet"])  # a second extractor shares them
    assert built == {
        "danceability-toy-1": 1,
        "voice_instrumental-toy-1": 1,
        "mood_happy-toy-1": 2,  # as a head (Softmax) and as mood_sad's embedding model (Reshape)
        "mood_sad-toy-1": 1,
        "mood_party-broken-1": 2,  # failures are not cached: each new extractor retries, then reports it
    }


def test_the_shared_extractor_loads_heads_through_the_process_cache(models):
    first = shared_extractor(config(models))
    assert shared_extractor(config(models)) is first
    assert any("danceability-toy-1" in key for key in process_cache().load_seconds)


def test_missing_and_broken_heads_are_unavailable_not_zero(models, files):
    result = FeatureExtractor(config(models), cache=ModelCache()).extract(files["quiet"])
    assert "tonal_atonal" in result.heads_unavailable  # expected, not installed
    assert "mood_party-broken-1" in result.heads_unavailable  # graph has no node the json names
    assert {p.head for p in result.heads} == {"danceability", "voice_instrumental", "mood_happy", "mood_sad"}
    row = result.rows("t")
    assert "tonal_atonal" in row["features"][0]["heads_unavailable"]
    assert result.track.rhythm.tempo_bpm == pytest.approx(120.0, rel=0.02)  # the rest is untouched


def test_head_too_short_for_one_patch_yields_no_rows(models):
    runner = HeadRunner.from_folder(models, [], ModelCache())
    predictions, errors = runner.predict({16_000: np.zeros(8_000, np.float32)})
    assert predictions == [] and errors == []


def test_view_takes_spotify_fields_from_heads_by_label(models, files, tmp_path):
    result = FeatureExtractor(config(models), cache=ModelCache()).extract(files["loud"])
    with connect(tmp_path / "store.duckdb") as con:
        for table, rows in result.rows("loud").items():
            replace_rows(con, table, "track_id", ["loud"], rows)
        stored = con.execute(f"SELECT count(*) FROM {HEADS_TABLE} WHERE segment_index IS NULL").fetchone()[0]
        view = con.execute(
            "SELECT danceability, instrumentalness, acousticness, valence, \"key\", mode FROM audio_features"
        ).fetchone()
    assert stored == 8  # 4 heads x 2 classes
    assert view[:4] == (pytest.approx(LOW, abs=1e-5), pytest.approx(HIGH, abs=1e-5), None, None)
    assert view[4:] == (9, 0)  # A minor


def test_low_sample_rate_file_still_gets_heads(models, tmp_path):
    path = write(tmp_path / "8k.wav", music(5.0, sr=8_000), sr=8_000)
    result = FeatureExtractor(config(models), cache=ModelCache()).extract(path)
    assert track_probabilities(result)[("danceability", "danceable")] == pytest.approx(LOW, abs=1e-5)
