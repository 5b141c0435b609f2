import numpy as np
import pytest

from melodex_ml import tracking
from melodex_ml.inference.genre import predict_segments, read_jsonl, write_jsonl
from melodex_ml.settings import MelodexSettings
from melodex_ml.training.dataset import SegmentDataset
from melodex_ml.training.genre import (
    GenreTrainingConfig,
    NotEnoughData,
    _held_out_split,
    train_genre_classifier,
)

LABELS = ["ambient", "jazz", "rock", "techno"]


def synthetic_segments(*, separation: float, seed: int = 0, artists_per_label: int = 3) -> SegmentDataset:
    """Each genre is a Gaussian blob in an 8-d descriptor space; 2 tracks per artist, 3 segments each."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(LABELS), 8)) * separation
    rows, labels, tracks, groups, index = [], [], [], [], []
    for li, label in enumerate(LABELS):
        for a in range(artists_per_label):
            for t in range(2):
                for s in range(3):
                    rows.append(centres[li] + rng.normal(size=8))
                    labels.append(label)
                    tracks.append(f"{label}-{a}-{t}")
                    groups.append(f"{label}-artist{a}")
                    index.append(s)
    n = len(rows)
    index = np.array(index)
    return SegmentDataset(
        features=np.array(rows, dtype=np.float32),
        feature_names=[f"f{i}" for i in range(8)],
        labels=np.array(labels),
        track_ids=np.array(tracks),
        groups=np.array(groups),
        splits=np.full(n, ""),
        segment_index=index,
        start_s=index * 30.0,
        end_s=index * 30.0 + 30.0,
    )


def test_separable_genres_are_learned_on_held_out_artists():
    data = synthetic_segments(separation=6.0)
    model = train_genre_classifier(data, GenreTrainingConfig(seed=1))
    assert model.labels == LABELS
    assert model.metrics["track_accuracy"] == 1.0
    assert model.metrics["n_test_tracks"] > 0


def test_noise_labels_score_near_chance():
    data = synthetic_segments(separation=0.0, artists_per_label=4)
    model = train_genre_classifier(data, GenreTrainingConfig(seed=1))
    assert model.metrics["track_accuracy"] < 0.75


def test_held_out_split_never_shares_an_artist():
    data = synthetic_segments(separation=1.0)
    train, test = _held_out_split(data, GenreTrainingConfig(seed=3))
    assert set(data.groups[train]).isdisjoint(data.groups[test])
    assert train.any() and test.any()


def test_the_catalog_split_is_used_when_every_track_has_one():
    data = synthetic_segments(separation=6.0)
    held_out = np.array([track.endswith("-0-1") for track in data.track_ids])  # artist 0's second track
    data = SegmentDataset(**{**vars(data), "splits": np.where(held_out, "test", "train")})
    train, test = _held_out_split(data, GenreTrainingConfig(seed=3))
    assert set(data.track_ids[test]) == {f"{label}-0-1" for label in LABELS}
    assert not (train & test).any() and (train | test).all()


def test_a_single_genre_is_not_enough():
    data = synthetic_segments(separation=3.0)
    only_rock = data.subset(data.labels == "rock")
    with pytest.raises(NotEnoughData, match="at least 2 genres"):
        train_genre_classifier(only_rock)


def test_registered_model_round_trips_and_champion_keeps_the_best(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    settings = MelodexSettings(home=tmp_path)
    good_data = synthetic_segments(separation=6.0)
    good = train_genre_classifier(good_data, GenreTrainingConfig(seed=1))
    with tracking.start_run(settings, "good", tags={"dagster.run_id": "r1", "dagster.partition": "p1"}) as run:
        first = tracking.log_genre_model(good, settings, params={"c": 1.0}, example=good_data.features[:3])
    assert first.is_champion and first.version == "1"
    assert tracking.champion_version(settings) == "1"
    from mlflow import MlflowClient

    tags = MlflowClient().get_run(run.info.run_id).data.tags
    assert tags["dagster.run_id"] == "r1" and tags["dagster.partition"] == "p1"

    bad_data = synthetic_segments(separation=0.0, seed=5, artists_per_label=4)
    bad = train_genre_classifier(bad_data, GenreTrainingConfig(seed=1))
    with tracking.start_run(settings, "bad"):
        second = tracking.log_genre_model(bad, settings, params={"c": 1.0}, example=bad_data.features[:3])
    assert second.version == "2" and not second.is_champion
    assert tracking.champion_version(settings) == "1"

    loaded = tracking.load_genre_model(settings)
    assert loaded.version == "1" and loaded.labels == LABELS and loaded.feature_names == good.feature_names
    np.testing.assert_allclose(
        loaded.pipeline.predict_proba(good_data.features), good.pipeline.predict_proba(good_data.features), rtol=1e-6
    )


def test_no_champion_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with pytest.raises(tracking.NoRegisteredModel, match="materialize the genre_classifier"):
        tracking.load_genre_model(MelodexSettings(home=tmp_path))


def test_predictions_jsonl_has_per_segment_and_global_probabilities(tmp_path):
    data = synthetic_segments(separation=6.0)
    trained = train_genre_classifier(data, GenreTrainingConfig(seed=1))
    model = tracking.LoadedGenreModel(trained.pipeline, trained.labels, trained.feature_names, "m", "7")
    predictions = predict_segments(model, data, {"rock-0-0": "/music/rock.flac"})
    path = tmp_path / "p" / "batch.jsonl"
    assert write_jsonl(predictions, path) == len(np.unique(data.track_ids))
    records = {r["track_id"]: r for r in read_jsonl(path)}
    rock = records["rock-0-0"]
    assert rock["audio_file"] == "/music/rock.flac"
    assert rock["total_segments"] == 3
    assert [s["start_time"] for s in rock["segments"]] == [0.0, 30.0, 60.0]
    for segment in rock["segments"]:
        assert sum(segment["predictions"].values()) == pytest.approx(1.0, abs=1e-4)
    mean = np.mean([[s["predictions"][label] for label in LABELS] for s in rock["segments"]], axis=0)
    assert rock["global_prediction"]["all_probabilities"] == pytest.approx(dict(zip(LABELS, mean)), abs=1e-5)
    assert rock["global_prediction"]["top_labels"][0] == "rock"
    assert rock["model"] == {"name": "m", "version": "7"}
    assert not list(path.parent.glob("*.tmp"))
