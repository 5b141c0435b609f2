"""The zero-shot genre candidate: the bundled sentence encoder maps genre names onto MusiCNN tags, the
mapping is scored on the shared split, saved, registered, chosen as champion and fed from the store and files."""

from __future__ import annotations

import json

import mlflow
import numpy as np
import pytest
import soundfile as sf

from melodex_ml import experiments, registry
from melodex_ml.embeddings.musicnn.records import ModelOutput, MusicnnResult, Segment
from melodex_ml.embeddings.musicnn.specs import MODELS
from melodex_ml.embeddings.musicnn.tables import result_rows
from melodex_ml.embeddings.segment_tags import (
    TAG_MODELS,
    SegmentTags,
    read_segment_tags,
    result_tag_vectors,
    tag_columns,
)
from melodex_ml.experiments import LoadedChampion
from melodex_ml.inference.dataset import MusicnnFeeder
from melodex_ml.inference.genre import predictions_of
from melodex_ml.inference.stream import FileToPredict, LoaderOptions, feeder_for, predict_files
from melodex_ml.models.genre_model import TAGS, load_model_folder
from melodex_ml.settings import MelodexSettings
from melodex_ml.stages.inference import stored_inputs
from melodex_ml.store import connect, replace_tables
from melodex_ml.training.evaluation_split import make_evaluation_split
from melodex_ml.training.inputs import SegmentVectors
from melodex_ml.training.labels import build_taxonomy
from melodex_ml.training.probes import train_logistic_probe
from melodex_ml.training.zero_shot import MAPPING_ARTIFACT, train_zero_shot

COLUMNS = {column: i for i, column in enumerate(tag_columns())}
# The tags a track of each genre is high on (both networks where both have the tag); Polka has no tag.
GENRE_TAGS = {
    "Rock": [("msd-musicnn", "rock"), ("mtt-musicnn", "rock")],
    "Jazz": [("msd-musicnn", "jazz")],
    "Electronic": [("msd-musicnn", "electronic"), ("mtt-musicnn", "electronic")],
    "Polka": [("mtt-musicnn", "fast"), ("msd-musicnn", "happy")],
}
SEGMENTS = 3


@pytest.fixture
def settings(melodex_home):
    return MelodexSettings(home=melodex_home, device="cpu")


def tag_library(genres, *, artists=3, tracks=2, seed=0):
    """(tags, artists, SegmentTags): every segment low on all tags (0 to 0.15) and high (0.6 to 0.9) on its genre's."""
    rng = np.random.default_rng(seed)
    tags, artist_of, owners, values = {}, {}, [], []
    for genre in genres:
        for a in range(artists):
            for t in range(tracks):
                track_id = f"{genre.lower()}-{a}-{t}"
                tags[track_id], artist_of[track_id] = [genre], f"{genre} Artist {a}"
                rows = rng.uniform(0.0, 0.15, size=(SEGMENTS, len(COLUMNS)))
                rows[:, [COLUMNS[c] for c in GENRE_TAGS[genre]]] = rng.uniform(0.6, 0.9, size=(SEGMENTS, 1))
                owners += [track_id] * SEGMENTS
                values.append(rows)
    index = np.tile(np.arange(SEGMENTS), len(tags))
    segments = SegmentTags(np.asarray(owners), index, 30.0 * index, 30.0 * index + 30.0,
                           np.concatenate(values).astype(np.float32))  # fmt: skip
    return tags, artist_of, segments


def candidate(encoder, genres, seed=0):
    tags, artists, segments = tag_library(genres, seed=seed)
    taxonomy = build_taxonomy(tags, artists, with_inputs=segments.tracks())
    split = make_evaluation_split(taxonomy)
    result = train_zero_shot(segments, taxonomy, split, encoder.encode, text_encoder="all-MiniLM-L6-v2")
    return result, segments, taxonomy, split


def test_genres_the_tags_name_are_predicted_without_training(encoder):
    result, segments, taxonomy, split = candidate(encoder, ("Rock", "Jazz", "Electronic"))
    assert result.candidate == "zero-shot-tags" and result.model.input_kind == TAGS == "tags:musicnn"
    assert result.evaluation.macro_f1 == 1.0 and result.evaluation.accuracy == 1.0
    assert result.evaluation.n_test_tracks == len(split.test_track_ids)
    assert result.evaluation.n_test_segments == SEGMENTS * len(split.test_track_ids)
    assert result.counts["n_model_tracks"] == 0 and result.params["fitted_on_train_tracks"] is False
    assert any("nothing was fitted" in note for note in result.notes)
    assert not any("no MusiCNN tag matches" in note for note in result.notes)
    matches = result.model.card.extra["matches"]
    assert {m["tag"] for m in matches["Rock"]} == {"msd-musicnn/rock", "mtt-musicnn/rock"}
    assert [m["tag"] for m in matches["Jazz"]] == ["msd-musicnn/jazz"]
    # a real row of input, and the embedding is the input itself
    example = np.asarray(result.input_example)
    assert example.shape == (3, 100) and any((example[0] == row).all() for row in segments.values)
    np.testing.assert_array_equal(result.model.embed(example), example)
    assert result.model.embedding_source == "input"
    # the train side was not read: scores are the same whatever its tags say
    scrambled = SegmentTags(segments.track_ids, segments.segment_index, segments.start_s, segments.end_s,
                            np.where(split.train_mask(segments.track_ids)[:, None], 0.0, segments.values))  # fmt: skip
    again = train_zero_shot(scrambled, taxonomy, split, encoder.encode, text_encoder="all-MiniLM-L6-v2")
    assert again.evaluation.metrics() == result.evaluation.metrics()


def test_a_genre_no_tag_names_is_reported_and_gets_no_evidence(encoder):
    result, segments, taxonomy, split = candidate(encoder, ("Rock", "Jazz", "Electronic", "Polka"))
    assert result.model.card.extra["unmatched"] == ["Polka"] and result.params["unmatched_labels"] == "Polka"
    assert any("no MusiCNN tag matches 'Polka'" in note for note in result.notes)
    assert json.loads(result.extra_artifacts[MAPPING_ARTIFACT])["unmatched"] == ["Polka"]
    per_class = result.evaluation.per_class
    assert all(per_class[g].recall == 1.0 for g in ("Rock", "Jazz", "Electronic"))
    assert per_class["Polka"].recall == 0.0  # a zero-shot mapping cannot name what no tag names
    probabilities = result.model.predict_segments(segments.values)
    assert (probabilities[:, result.model.labels.index("Polka")] == 0).all()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-6)
    # a segment with no evidence at all is uniform over the genres
    np.testing.assert_allclose(result.model.predict_segments(np.zeros((1, 100))), [[0.25] * 4])


def test_it_saves_registers_and_wins_champion_against_a_worse_trained_candidate(encoder, settings, tmp_path):
    result, segments, taxonomy, split = candidate(encoder, ("Rock", "Jazz", "Electronic"))
    loaded = load_model_folder(result.model.save(tmp_path / "model"))
    assert loaded.card == result.model.card
    np.testing.assert_array_equal(loaded.predict_segments(segments.values),
                                  result.model.predict_segments(segments.values))  # fmt: skip

    noise = np.random.default_rng(1).normal(size=segments.values.shape).astype(np.float32)
    trained = train_logistic_probe(SegmentVectors(noise, segments.track_ids, "embedding:noise"), taxonomy, split)
    assert trained.evaluation.macro_f1 < 1.0
    experiments.log_candidate(trained, settings)
    assert registry.promote_champion(settings, split_hash=split.split_hash).champion == "1"
    logged = experiments.log_candidate(result, settings)
    decision = registry.promote_champion(settings, split_hash=split.split_hash)
    assert decision.moved and decision.champion == logged.version == "2"
    rows = registry.compare_candidates(settings)
    assert [r.candidate for r in rows] == ["zero-shot-tags", "probe-logreg:noise:segment"]
    assert rows[0].champion and rows[0].macro_f1 == 1.0 and len({r.split_hash for r in rows}) == 1

    champion = experiments.load_champion(settings)
    assert champion.candidate == "zero-shot-tags" and champion.model.input_kind == TAGS
    np.testing.assert_allclose(champion.model.predict_segments(segments.values),
                               result.model.predict_segments(segments.values), rtol=1e-6)  # fmt: skip
    assert champion.model.card.extra["matches"] == result.model.card.extra["matches"]
    info = mlflow.models.get_model_info(f"models:/{settings.genre_model_name}/2")
    assert info.metadata["input_kind"] == TAGS and info.saved_input_example_info is not None
    notes = mlflow.artifacts.load_text(f"runs:/{logged.run_id}/notes.txt")
    assert "nothing was fitted" in notes
    mapping = mlflow.artifacts.load_dict(f"runs:/{logged.run_id}/{MAPPING_ARTIFACT}")
    assert mapping["matches"]["Jazz"][0]["tag"] == "msd-musicnn/jazz"


def _musicnn_result(track_id: str, tags: np.ndarray, bounds: list[tuple[float, float]]) -> MusicnnResult:
    """A tagger result carrying ``tags`` (n_segments, 100), as the embeddings stage gets it."""
    outputs, start = {}, 0
    for model in TAG_MODELS:
        labels = MODELS[model].labels
        mine = tags[:, start : start + len(labels)]
        start += len(labels)
        outputs[model] = ModelOutput(model, "0" * 64, "model/dense/BiasAdd", labels, np.zeros(200, np.float32),
                                     mine.mean(axis=0), np.zeros((len(mine), 200), np.float32), mine)  # fmt: skip
    segments = tuple(Segment(i, lo, hi, 10) for i, (lo, hi) in enumerate(bounds))
    return MusicnnResult(track_id, bounds[-1][1], 16_000, 1, 10 * len(bounds), 3.0, segments, outputs)


def test_stored_inputs_read_the_segment_tags_the_embeddings_stage_writes(encoder, settings):
    result, segments, _, _ = candidate(encoder, ("Rock", "Jazz", "Electronic"))
    ids = ["jazz-0-1", "rock-2-0", "electronic-1-1"]
    bounds = [(0.0, 30.0), (30.0, 60.0), (60.0, 75.5)]
    written = {t: _musicnn_result(t, segments.rows_of([t]).values, bounds) for t in ids}
    with connect(settings.duckdb_path) as con:
        rows = {}
        for track_id, tagged in written.items():
            for table, table_rows in result_rows(tagged, track_id, "batch-1").items():
                rows.setdefault(table, []).extend(table_rows)
        replace_tables(con, rows, "track_id", ids)
        assert len(read_segment_tags(con)) == 3 * SEGMENTS

    owner, index, starts, ends, inputs = stored_inputs(result.model, settings, ids[:2])
    assert owner.tolist() == ["jazz-0-1"] * 3 + ["rock-2-0"] * 3 and index.tolist() == [0, 1, 2] * 2
    assert starts.tolist() == [0.0, 30.0, 60.0] * 2 and ends.tolist() == [30.0, 60.0, 75.5] * 2
    np.testing.assert_allclose(inputs, np.concatenate([segments.rows_of([t]).values for t in ids[:2]]), rtol=1e-6)
    # the store's layout is the one a fresh tagger result gives (ad-hoc files)
    np.testing.assert_allclose(inputs[:3], result_tag_vectors(written["jazz-0-1"]), rtol=1e-6)
    champion = LoadedChampion(result.model, "m", "1", "run", "zero-shot-tags", "split")
    lines = list(predictions_of(champion, owner, index, starts, ends, inputs, {}))
    assert [(line.track_id, line.global_prediction.top_labels[0]) for line in lines] == [("jazz-0-1", "Jazz"),
                                                                                   ("rock-2-0", "Rock")]


def test_files_are_fed_as_segment_tag_vectors(encoder, settings, tmp_path):
    result, *_ = candidate(encoder, ("Rock", "Jazz", "Electronic"))
    rate = 16_000
    t = np.arange(8 * rate) / rate
    path = tmp_path / "tone.wav"
    sf.write(path, (0.3 * np.sin(2 * np.pi * 220 * t) * np.sin(2 * np.pi * 3 * t)).astype(np.float32), rate)
    feeder = feeder_for(result.model, settings, with_tags=True)
    assert isinstance(feeder, MusicnnFeeder) and feeder.encoder is None
    fed = feeder(path)
    vectors = np.stack(list(fed.inputs))
    direct = feeder.tagger.analyse_file(path)
    assert vectors.shape == (len(direct.segments), 100)
    assert fed.bounds == [(s.start_s, s.end_s) for s in direct.segments]
    np.testing.assert_allclose(vectors[:, :50], direct.outputs["msd-musicnn"].segment_tags, rtol=1e-6)
    np.testing.assert_allclose(vectors[:, 50:], direct.outputs["mtt-musicnn"].segment_tags, rtol=1e-6)
    assert set(fed.tags) == set(TAG_MODELS) and fed.flags == ("shorter_than_segment",)

    champion = LoadedChampion(result.model, "m", "1", "run", "zero-shot-tags", "split")
    (line,) = predict_files(champion, [FileToPredict(str(path), path, "tone.wav")], feeder, LoaderOptions())
    assert line.model["input_kind"] == TAGS and len(line.segments) == len(direct.segments)
    assert line.global_prediction.top_labels[0] in result.model.labels
