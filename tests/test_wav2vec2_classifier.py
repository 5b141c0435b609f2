import numpy as np
import pytest
import soundfile as sf
import torch

from melodex_ml import experiments, registry
from melodex_ml.models.cache import ModelUnavailable
from melodex_ml.models.genre_model import load_model_folder
from melodex_ml.models.wav2vec2_classifier import pool
from melodex_ml.settings import MelodexSettings
from melodex_ml.training.evaluation_split import make_evaluation_split
from melodex_ml.training.labels import build_taxonomy
from melodex_ml.training.wav2vec2 import (
    Wav2Vec2Config,
    encoder_sample_rate,
    prepare_audio,
    train_wav2vec2_classifier,
)
from tiny_models import ENCODER_HIDDEN, ENCODER_RATE, save_tiny_encoder


def test_pooling_modes_ignore_padding_frames():
    hidden = torch.tensor([[[1.0, 10.0], [3.0, -2.0], [100.0, 100.0]]])  # third frame is padding
    mask = torch.tensor([[True, True, False]])
    assert pool(hidden, mask, "mean").tolist() == [[2.0, 4.0]]
    assert pool(hidden, mask, "sum").tolist() == [[4.0, 8.0]]
    assert pool(hidden, mask, "max").tolist() == [[3.0, 10.0]]
    assert pool(hidden, None, "max").tolist() == [[100.0, 100.0]]
    with pytest.raises(ValueError, match="pooling"):
        pool(hidden, mask, "median")


def _tone_or_noise(kind: str, seconds: float, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(round(seconds * ENCODER_RATE)) / ENCODER_RATE
    if kind == "tone":
        return 0.5 * np.sin(2 * np.pi * rng.uniform(200, 260) * t)
    return 0.3 * rng.normal(size=t.size)


@pytest.fixture(scope="module")
def tiny_library(tmp_path_factory):
    root = tmp_path_factory.mktemp("w2v")
    encoder = save_tiny_encoder(root / "encoder")
    rng = np.random.default_rng(0)
    paths, tags, artists = {}, {}, {}
    for kind in ("tone", "noise"):
        for i in range(6):
            track_id = f"{kind}{i}"
            paths[track_id] = root / f"{track_id}.wav"
            sf.write(paths[track_id], _tone_or_noise(kind, 2.0, rng).astype(np.float32), ENCODER_RATE)
            tags[track_id] = [kind]
            artists[track_id] = f"{kind} artist {i // 2}"
    return encoder, paths, tags, artists


def test_wav2vec2_classifier_fine_tunes_end_to_end_and_loads_from_mlflow(tiny_library, melodex_home):
    encoder, paths, tags, artists = tiny_library
    # A randomly initialised tiny encoder learns tone vs noise only with its front end trainable.
    config = Wav2Vec2Config(model_id=str(encoder), pooling="mean", clip_seconds=1.0, epochs=8, batch_size=4,
                            learning_rate=3e-3, warmup_ratio=0.0, patience=3, freeze_feature_encoder=False,
                            cpu_threads=1)  # fmt: skip
    assert encoder_sample_rate(config) == ENCODER_RATE
    prepared = prepare_audio(paths, config, ENCODER_RATE)
    assert len(prepared) == 12 and prepared.inputs[0].shape == (ENCODER_RATE,)  # the centre second
    taxonomy = build_taxonomy(tags, artists, with_inputs=prepared.tracks())
    split = make_evaluation_split(taxonomy)
    result = train_wav2vec2_classifier(prepared, taxonomy, split, config)

    assert 1 <= len(result.history) <= config.epochs
    assert all(h.val_loss is not None for h in result.history)
    assert result.best_epoch == min(result.history, key=lambda h: h.val_loss).epoch
    assert result.evaluation.n_test_tracks == len(split.test_track_ids)
    assert result.evaluation.accuracy == 1.0  # a pure tone and white noise, held-out tracks
    assert result.params["mixed_precision"] == "no" and result.params["pooling"] == "mean"

    clip = prepared.inputs[0]
    saved = load_model_folder(result.model.save(melodex_home / "w2v"))
    np.testing.assert_allclose(saved.predict_segments([clip]), result.model.predict_segments([clip]), atol=1e-5)
    assert saved.embed([clip, clip[:8000]]).shape == (2, ENCODER_HIDDEN)

    settings = MelodexSettings(home=melodex_home)
    experiments.log_candidate(result, settings)
    registry.promote_champion(settings)
    champion = experiments.load_champion(settings)
    assert champion.model.input_kind == "audio" and champion.model.card.sample_rate == ENCODER_RATE
    np.testing.assert_allclose(champion.model.predict_segments([clip]), result.model.predict_segments([clip]),
                               atol=1e-5)  # fmt: skip


def test_the_frozen_front_end_is_not_trained(tiny_library):
    from transformers import AutoModel

    from melodex_ml.models.wav2vec2_classifier import PooledAudioClassifier

    encoder = AutoModel.from_pretrained(str(tiny_library[0]), local_files_only=True)
    net = PooledAudioClassifier(encoder, 2, "sum", 0.1)
    net.freeze_feature_encoder()
    frozen = {n for n, p in net.named_parameters() if not p.requires_grad}
    assert frozen and all(n.startswith("encoder.feature_extractor.") for n in frozen)
    out = net(torch.zeros(2, 8000), labels=torch.tensor([0, 1]))
    assert out.logits.shape == (2, 2) and out.loss is not None


def test_missing_encoder_weights_are_reported_not_downloaded(tmp_path):
    with pytest.raises(ModelUnavailable):
        encoder_sample_rate(Wav2Vec2Config(model_id="nobody/no-such-encoder"))
