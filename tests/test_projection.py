import numpy as np
import pytest
from mlflow import MlflowClient

from melodex_ml import experiments, registry
from melodex_ml.embeddings.text import TextEncoder
from melodex_ml.models.projection import ProjectionModel, search
from melodex_ml.settings import MelodexSettings
from melodex_ml.training.projection import ProjectionConfig, retrieval_metrics, train_projection

CAPTIONS = {
    "rock": ["an energetic rock song with distorted electric guitars and loud drums",
             "loud guitar riffs over pounding drums, hard rock"],
    "ambient": ["a calm ambient soundscape with soft slow pads", "slow drifting atmospheric synth pads, very relaxing"],
    "jazz": ["a swinging jazz trio with upright bass, piano and brushed drums", "smooth jazz with saxophone solos"],
    "classical": ["an orchestral classical piece with strings and woodwinds", "a gentle string quartet, classical"],
    "hip-hop": ["a hip hop beat with heavy bass, rap vocals and vinyl crackle", "boom bap drums and rapping"],
    "electronic": ["a fast electronic dance track with synth arpeggios and four on the floor kick",
                   "pulsing techno with synthesizers"],
}  # fmt: skip


def test_retrieval_metrics_count_ranks_exactly():
    similarity = np.array([[0.9, 0.1, 0.0], [0.8, 0.5, 0.1], [0.7, 0.6, 0.2]])  # truth: 0, 1, 2
    metrics = retrieval_metrics(similarity, [0, 1, 2])
    assert (metrics.recall_at_1, metrics.median_rank) == (pytest.approx(1 / 3), 2.0)  # ranks 1, 2, 3
    assert metrics.recall_at_5 == metrics.recall_at_10 == 1.0
    assert metrics.metrics()["chance_recall_at_1"] == pytest.approx(1 / 3)


@pytest.fixture(scope="module")
def text_encoder():
    return TextEncoder.load(MelodexSettings(), device="cpu")


def _library(per_style: int = 8, dim: int = 24, seed: int = 0):
    """Audio vectors: each style a direction in a random basis, plus per-track noise."""
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.normal(size=(dim, dim)))[0][: len(CAPTIONS)]
    vectors, pairs, artists, style_of = {}, [], {}, {}
    for s, (style, captions) in enumerate(CAPTIONS.items()):
        for i in range(per_style):
            track_id = f"{style}-{i}"
            vectors[track_id] = 3.0 * basis[s] + 0.5 * rng.normal(size=dim)
            artists[track_id] = f"{style} artist {i // 2}"
            style_of[track_id] = style
            pairs += [(track_id, caption) for caption in captions]
    return vectors, pairs, artists, style_of


def test_projection_learns_to_retrieve_held_out_tracks_from_text(text_encoder, tmp_path):
    vectors, pairs, artists, style_of = _library()
    config = ProjectionConfig(dim=32, hidden=64, max_epochs=150, batch_size=16, patience=15, test_fraction=0.25)
    result = train_projection(vectors, pairs, text_encoder, audio_encoder="synthetic", artists=artists, config=config)
    assert not set(result.test_track_ids) & set(result.train_track_ids)
    test_artists = {artists[t] for t in result.test_track_ids}
    assert test_artists.isdisjoint({artists[t] for t in result.train_track_ids})
    retrieval = result.retrieval
    n = retrieval.n_tracks
    assert retrieval.n_queries == 2 * len(result.test_track_ids)
    # A caption tells the style, not the track: the right track competes with the other test
    # tracks of its style only, so its median rank is within the style's count, far above chance.
    same_style = max(sum(style_of[t] == s for t in result.test_track_ids) for s in CAPTIONS)
    assert retrieval.median_rank <= same_style < (n + 1) / 2
    assert retrieval.recall_at_5 > 2 * min(1.0, 5 / n)
    assert result.history and 1 <= result.best_epoch <= len(result.history)

    model = ProjectionModel.load(result.model.save(tmp_path / "projection"))
    test = list(result.test_track_ids)
    hits = search(model, text_encoder, "heavy distorted guitars and big drums", np.stack([vectors[t] for t in test]),
                  test, top_k=2)  # fmt: skip
    assert [style_of[t] for t, _ in hits] == ["rock"] * 2
    assert hits[0][1] >= hits[1][1]


def test_projection_is_logged_registered_and_loads_back(text_encoder, melodex_home):
    vectors, pairs, artists, _ = _library(per_style=4)
    config = ProjectionConfig(dim=8, hidden=16, max_epochs=5, batch_size=8)
    result = train_projection(vectors, pairs, text_encoder, audio_encoder="synthetic", artists=artists, config=config)
    settings = MelodexSettings(home=melodex_home)
    logged = experiments.log_projection(result, settings, tags={"dagster.run_id": "r"})
    assert logged.metric == "test_recall_at_10" and logged.score == result.retrieval.recall_at_10
    decision = registry.promote_champion(settings, "text-projection", metric="test_recall_at_10")
    assert decision.champion == "1" and decision.name == "melodex-text-projection"
    model, version = experiments.load_projection(settings)
    probe = np.stack([vectors["rock-0"], vectors["jazz-1"]])
    np.testing.assert_allclose(model.project_audio(probe), result.model.project_audio(probe), rtol=1e-5)
    history = MlflowClient().get_metric_history(logged.run_id, "train_loss")
    assert [m.step for m in history] == [h.epoch for h in result.history]
    assert version == "1"


def test_search_refuses_a_different_text_encoder(text_encoder):
    vectors, pairs, artists, _ = _library(per_style=4)
    config = ProjectionConfig(dim=8, hidden=16, max_epochs=2, batch_size=8)
    result = train_projection(vectors, pairs, text_encoder, audio_encoder="synthetic", artists=artists, config=config)

    class OtherEncoder:
        model_id = "someone/else"

    with pytest.raises(ValueError, match="trained on"):
        search(result.model, OtherEncoder(), "rock", np.zeros((1, 24)), ["x"])
