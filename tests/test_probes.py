import numpy as np
import pytest

from melodex_ml.models.genre_model import load_model_folder
from melodex_ml.training.evaluation_split import SplitConfig, make_evaluation_split
from melodex_ml.training.inputs import SegmentVectors
from melodex_ml.training.labels import NotEnoughData
from melodex_ml.training.probes import MlpProbeConfig, train_logistic_probe, train_mlp_probe
from melodex_ml.training.torch_loop import LoopConfig
from tests.genre_fixtures import GENRES, blob_library, taxonomy_of

FAST_MLP = MlpProbeConfig(hidden=16, loop=LoopConfig(max_epochs=60, batch_size=16, learning_rate=1e-2, patience=10))


def test_logistic_probe_learns_separable_genres_on_held_out_artists():
    library = blob_library(separation=6.0)
    taxonomy = taxonomy_of(library)
    split = make_evaluation_split(taxonomy)
    result = train_logistic_probe(library.vectors, taxonomy, split)
    assert result.candidate == "probe-logreg:blobs:segment"
    assert result.evaluation.labels == GENRES
    assert result.evaluation.accuracy == 1.0 and result.evaluation.macro_f1 == 1.0
    assert result.evaluation.n_test_tracks == len(split.test_track_ids)
    assert result.evaluation.n_test_segments == 3 * len(split.test_track_ids)
    confusion = np.array(result.evaluation.confusion)
    assert np.array_equal(confusion, np.diag(confusion.diagonal())) and confusion.sum() == len(split.test_track_ids)
    supports = {label: m.support for label, m in result.evaluation.per_class.items()}
    assert supports == {g: sum(taxonomy.track_labels[t] == g for t in split.test_track_ids) for g in GENRES}


def test_noise_scores_near_chance():
    library = blob_library(separation=0.0, artists_per_genre=5)
    taxonomy = taxonomy_of(library)
    result = train_logistic_probe(library.vectors, taxonomy, make_evaluation_split(taxonomy))
    assert result.evaluation.accuracy < 0.6  # chance is 0.25


def test_mlp_probe_learns_and_is_deterministic_with_history_and_penultimate_embedding():
    library = blob_library(separation=4.0, artists_per_genre=4)
    taxonomy = taxonomy_of(library)
    split = make_evaluation_split(taxonomy)
    first = train_mlp_probe(library.vectors, taxonomy, split, FAST_MLP)
    again = train_mlp_probe(library.vectors, taxonomy, split, FAST_MLP)
    assert first.evaluation.accuracy == 1.0
    assert first.evaluation.metrics() == again.evaluation.metrics()
    assert [h.val_loss for h in first.history] == [h.val_loss for h in again.history]
    assert 1 <= first.best_epoch <= len(first.history) <= FAST_MLP.loop.max_epochs
    best = min(first.history, key=lambda h: h.val_loss)
    assert best.epoch == first.best_epoch
    assert first.model.embed(library.vectors.values[:5]).shape == (5, FAST_MLP.hidden)
    assert first.model.embedding_source == "penultimate"


def test_untagged_tracks_are_predicted_by_the_refit_model(tmp_path):
    library = blob_library(separation=6.0, untagged_every=3)
    taxonomy = taxonomy_of(library)
    assert len(taxonomy.unlabeled) == 8
    result = train_logistic_probe(library.vectors, taxonomy, make_evaluation_split(taxonomy))
    model = load_model_folder(result.model.save(tmp_path / "m"))
    for track_id in taxonomy.unlabeled:
        rows = library.vectors.rows_of([track_id]).values
        segments, global_probs, embedding = model.predict_track(rows)
        assert segments.shape == (3, 4) and np.allclose(segments.sum(axis=1), 1.0)
        assert model.labels[int(global_probs.argmax())] == library.truth[track_id]
        assert embedding.shape == (8,)


def test_test_tracks_without_inputs_count_as_misses():
    library = blob_library(separation=6.0)
    taxonomy = taxonomy_of(library)
    split = make_evaluation_split(taxonomy)
    lost = split.test_track_ids[0]
    keep = library.vectors.track_ids != lost
    vectors = SegmentVectors(library.vectors.values[keep], library.vectors.track_ids[keep], "embedding:blobs")
    result = train_logistic_probe(vectors, taxonomy, split)
    n = len(split.test_track_ids)
    assert result.evaluation.n_test_tracks == n
    assert result.evaluation.accuracy == pytest.approx((n - 1) / n)
    assert any("count as misses" in note for note in result.notes)


def test_train_tracks_of_a_single_label_are_not_enough():
    library = blob_library()
    taxonomy = taxonomy_of(library)
    split = make_evaluation_split(taxonomy, SplitConfig(seed=3))
    rock = [t for t in library.vectors.tracks() if taxonomy.track_labels[t] == "Rock"]
    with pytest.raises(NotEnoughData, match="1 label"):
        train_logistic_probe(library.vectors.rows_of(rock), taxonomy, split)
