"""Audio encoders (tiny wav2vec2/HuBERT saved with save_pretrained), the bundled text encoder, HDF5 storage."""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path

import h5py
import numpy as np
import pytest
import soundfile as sf
import torch

from tiny_models import ENCODER_HIDDEN, ENCODER_LAYERS, ENCODER_RATE, save_tiny_encoder

from melodex_ml.embeddings.audio import AudioEncoder, AudioEncoderConfig, embed_tracks
from melodex_ml.embeddings.hdf5 import TrackEmbedding, read_embedding_files, read_embeddings, write_embeddings
from melodex_ml.embeddings.text import BUNDLED_TEXT_ENCODER, TextEncoder
from melodex_ml.models.cache import ModelCache, ModelUnavailable
from melodex_ml.settings import MelodexSettings

RATE = ENCODER_RATE
HIDDEN = ENCODER_HIDDEN
LAYERS = ENCODER_LAYERS


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """Behave as under HF_HUB_OFFLINE=1 (the constant is read at import, so patch it too)."""
    import huggingface_hub.constants as hf_constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)


@pytest.fixture(scope="module")
def wav2vec2_dir(tmp_path_factory) -> Path:
    return save_tiny_encoder(tmp_path_factory.mktemp("wav2vec2"), "wav2vec2")


@pytest.fixture(scope="module")
def encoder_cache() -> ModelCache:
    return ModelCache()


def encoder(model_dir: Path, cache: ModelCache, **config) -> AudioEncoder:
    return AudioEncoder.load(AudioEncoderConfig(str(model_dir), **config), device="cpu", cache=cache)


def noise(seconds: float, rate: int = RATE, seed: int = 0) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(round(seconds * rate))).astype(np.float32)


# --- audio encoders ---------------------------------------------------------------------------


def test_segments_cover_the_audio(wav2vec2_dir, encoder_cache):
    rate = 22050  # resampled to the extractor's 16 kHz
    audio = np.stack([noise(61.0, rate, seed=1), noise(61.0, rate, seed=2)])

    result = encoder(wav2vec2_dir, encoder_cache, segment_seconds=30.0).embed("t", audio, rate)

    n = math.ceil(61.0 / 30.0)
    assert result.segments.shape == (n, HIDDEN) and result.track.shape == (HIDDEN,)
    np.testing.assert_allclose(result.segment_start_s, [0.0, 30.0, 60.0])
    np.testing.assert_allclose(result.segment_end_s, [30.0, 60.0, 61.0])


def test_segment_embeddings_match_the_model_run_on_each_slice(wav2vec2_dir, encoder_cache):
    """Ground truth from plain transformers: time-mean of the last hidden state of each slice alone."""
    from transformers import AutoFeatureExtractor, AutoModel

    audio = noise(5.0)
    result = encoder(wav2vec2_dir, encoder_cache, segment_seconds=2.0, batch_size=2).embed("t", audio, RATE)

    model = AutoModel.from_pretrained(wav2vec2_dir).eval()
    extractor = AutoFeatureExtractor.from_pretrained(wav2vec2_dir)
    expected = []
    for start in (0, 2 * RATE, 4 * RATE):
        inputs = extractor(audio[start : start + 2 * RATE], sampling_rate=RATE, return_tensors="pt")
        with torch.no_grad():
            expected.append(model(**inputs).last_hidden_state.mean(dim=1)[0].numpy())
    np.testing.assert_allclose(result.segments, np.stack(expected), atol=1e-4)
    # The 1 s tail weighs half as much as the 2 s segments.
    np.testing.assert_allclose(result.track, (2 * expected[0] + 2 * expected[1] + expected[2]) / 5, atol=1e-4)


def test_embeddings_are_deterministic_and_tell_signals_apart(wav2vec2_dir, encoder_cache):
    enc = encoder(wav2vec2_dir, encoder_cache, segment_seconds=2.0)
    t = np.arange(3 * RATE) / RATE
    sine = (0.5 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)

    first, again, other = enc.embed("a", sine, RATE), enc.embed("a", sine, RATE), enc.embed("b", noise(3.0), RATE)

    np.testing.assert_array_equal(first.track, again.track)
    np.testing.assert_array_equal(first.segments, again.segments)
    assert np.abs(first.track - other.track).max() > 1e-2


def test_mono_equals_identical_stereo_channels(wav2vec2_dir, encoder_cache):
    enc = encoder(wav2vec2_dir, encoder_cache, segment_seconds=2.0)
    mono = noise(2.5, seed=3)
    np.testing.assert_allclose(
        enc.embed("m", mono, RATE).track, enc.embed("s", np.stack([mono, mono]), RATE).track, atol=1e-6
    )


def test_layer_pooling_keeps_every_hidden_state(wav2vec2_dir, encoder_cache):
    audio = noise(3.0, seed=4)
    last = encoder(wav2vec2_dir, encoder_cache, segment_seconds=2.0).embed("t", audio, RATE)
    layers = encoder(wav2vec2_dir, encoder_cache, segment_seconds=2.0, pooling="layers").embed("t", audio, RATE)

    assert layers.track.shape == (LAYERS + 1, HIDDEN)  # embedding output + each layer, as MERT users stack them
    assert layers.segments.shape == (2, LAYERS + 1, HIDDEN)
    np.testing.assert_allclose(layers.segments[:, -1], last.segments, atol=1e-5)


def test_a_clip_shorter_than_the_front_end_needs_is_padded(wav2vec2_dir, encoder_cache):
    result = encoder(wav2vec2_dir, encoder_cache).embed("t", noise(0.01), RATE)  # 160 samples < 400
    assert result.segments.shape == (1, HIDDEN) and np.isfinite(result.track).all()
    np.testing.assert_allclose(result.segment_end_s, [0.01])


def test_weights_load_once_per_process(wav2vec2_dir):
    cache = ModelCache()
    a = encoder(wav2vec2_dir, cache)
    b = encoder(wav2vec2_dir, cache, pooling="layers", batch_size=8)
    assert a.model is b.model and len(cache.load_seconds) == 1


def test_hubert_loads_through_the_same_loader(tmp_path):
    enc = encoder(save_tiny_encoder(tmp_path / "hubert", "hubert"), ModelCache())
    assert type(enc.model).__name__ == "HubertModel"
    assert enc.embed("t", noise(1.5), RATE).track.shape == (HIDDEN,)


def test_a_model_that_is_not_available_offline(tmp_path):
    with pytest.raises(ModelUnavailable, match="MELODEX_AUDIO_ENCODER"):
        AudioEncoder.load(AudioEncoderConfig("melodex-tests/no-such-encoder"), cache=ModelCache())
    with pytest.raises(ModelUnavailable, match="MELODEX_AUDIO_ENCODER"):
        AudioEncoder.from_settings(MelodexSettings(home=tmp_path, audio_encoder=None), cache=ModelCache())


def test_from_settings_uses_segment_and_batch_settings(tmp_path, wav2vec2_dir):
    settings = MelodexSettings(
        home=tmp_path,
        audio_encoder=str(wav2vec2_dir),
        segment_seconds=2.0,
        embedding_batch_size=3,
        audio_encoder_pooling="layers",
        device="cpu",
    )
    enc = AudioEncoder.from_settings(settings, cache=ModelCache())
    assert (enc.config.segment_seconds, enc.config.batch_size, enc.config.pooling) == (2.0, 3, "layers")
    assert enc.device == "cpu"


def test_embed_tracks_turns_bad_files_into_failures(tmp_path, wav2vec2_dir, encoder_cache):
    good = tmp_path / "good.wav"
    sf.write(good, noise(2.0), RATE)
    silent_nan = tmp_path / "nan.wav"
    sf.write(silent_nan, np.full(RATE, np.nan, np.float32), RATE, subtype="FLOAT")

    def load(path: Path) -> tuple[np.ndarray, int]:
        data, rate = sf.read(path, dtype="float32", always_2d=True)
        return data.T, rate

    result = embed_tracks(
        encoder(wav2vec2_dir, encoder_cache),
        [("good", good), ("nan", silent_nan), ("gone", tmp_path / "x.wav")],
        load=load,
    )

    assert [e.track_id for e in result.embeddings] == ["good"]
    assert [(f.stage, f.item) for f in result.failures] == [("embeddings", "nan"), ("embeddings", "gone")]
    assert "NaN" in result.failures[0].message


# --- text encoder -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def text_encoder(tmp_path_factory) -> TextEncoder:
    import huggingface_hub.constants as hf_constants

    settings = MelodexSettings(home=tmp_path_factory.mktemp("home"), text_encoder=None, device="cpu")
    with pytest.MonkeyPatch.context() as patch:  # module scope: the autouse `offline` fixture is not active yet
        patch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
        return TextEncoder.load(settings, cache=ModelCache())


def test_bundled_text_encoder_loads_offline(text_encoder):
    assert text_encoder.model_id == BUNDLED_TEXT_ENCODER
    assert text_encoder.dim == 384
    assert text_encoder.encode([]).shape == (0, 384)


def test_captions_are_normalised_and_close_when_similar(text_encoder):
    calm, gentle, metal = text_encoder.encode(
        ["calm acoustic guitar", "gentle acoustic guitar piece", "aggressive heavy metal drums"]
    )
    for v in (calm, gentle, metal):
        assert v.dtype == np.float32 and v.shape == (384,)
        assert abs(np.linalg.norm(v) - 1.0) < 1e-5
    assert calm @ gentle > calm @ metal + 0.2
    assert calm @ gentle > gentle @ metal + 0.2


def test_text_encoder_override_that_is_not_available(tmp_path):
    settings = MelodexSettings(home=tmp_path, text_encoder="melodex-tests/no-such-sentence-model", device="cpu")
    with pytest.raises(ModelUnavailable, match="MELODEX_TEXT_ENCODER"):
        TextEncoder.load(settings, cache=ModelCache())


# --- HDF5 storage -----------------------------------------------------------------------------


def track_embedding(track_id: str, n_segments: int, seed: int, shape: tuple[int, ...] = (4,)) -> TrackEmbedding:
    rng = np.random.default_rng(seed)
    segments = rng.standard_normal((n_segments, *shape)).astype(np.float32)
    starts = np.arange(n_segments) * 30.0
    return TrackEmbedding(track_id, segments.mean(0), segments, starts, starts + 30.0)


def test_hdf5_round_trip(tmp_path):
    embeddings = [track_embedding("a", 3, 0), track_embedding("é-ü/ß", 1, 1), track_embedding("c", 2, 2)]

    path = write_embeddings(
        tmp_path, "batch-001", embeddings, model_id="tiny/w2v", pooling="last", attrs={"batch_id": "001"}
    )

    assert path == tmp_path / "batch-001.h5"
    got = read_embeddings(path)
    assert got.track_ids == ["a", "é-ü/ß", "c"]
    np.testing.assert_array_equal(got.track, np.stack([e.track for e in embeddings]))
    assert got.track.dtype == np.float32
    np.testing.assert_array_equal(got.segment_track_index, [0, 0, 0, 1, 2, 2])
    np.testing.assert_array_equal(got.segments_of("c"), embeddings[2].segments)
    np.testing.assert_array_equal(got.segment_start_s, [0, 30, 60, 0, 0, 30])
    np.testing.assert_array_equal(got.segment_end_s, [30, 60, 90, 30, 30, 60])
    assert (got.model_id, got.attrs["dim"], got.attrs["pooling"], got.attrs["batch_id"]) == (
        "tiny/w2v",
        4,
        "last",
        "001",
    )
    assert got.attrs["melodex_version"] and datetime.fromisoformat(got.attrs["created_at"]).tzinfo is not None


def test_hdf5_rewrite_replaces_the_file(tmp_path):
    write_embeddings(
        tmp_path, "b", [track_embedding("a", 2, 0), track_embedding("b", 2, 1)], model_id="m", pooling="last"
    )
    newer = [track_embedding("a", 1, 5)]  # "b" failed this time: it is simply absent

    write_embeddings(tmp_path, "b", newer, model_id="m", pooling="last")

    got = read_embeddings(tmp_path / "b.h5")
    assert got.track_ids == ["a"]
    np.testing.assert_array_equal(got.track[0], newer[0].track)
    assert [p.name for p in tmp_path.iterdir()] == ["b.h5"]


def test_hdf5_failed_write_keeps_the_old_file(tmp_path):
    write_embeddings(tmp_path, "b", [track_embedding("a", 2, 0)], model_id="m", pooling="last")
    with pytest.raises(TypeError):  # h5py cannot store the attribute: fails after the datasets are written
        write_embeddings(
            tmp_path, "b", [track_embedding("z", 2, 1)], model_id="m", pooling="last", attrs={"bad": object()}
        )
    assert read_embeddings(tmp_path / "b.h5").track_ids == ["a"]
    assert [p.name for p in tmp_path.iterdir()] == ["b.h5"]


def test_hdf5_layer_embeddings_and_track_only_embeddings(tmp_path):
    layered = [track_embedding("a", 2, 0, shape=(13, 8))]
    got = read_embeddings(write_embeddings(tmp_path, "l", layered, model_id="mert", pooling="layers"))
    assert got.track.shape == (1, 13, 8) and got.segments.shape == (2, 13, 8) and got.attrs["dim"] == 8

    captions = [TrackEmbedding("cap-1", np.ones(384, np.float32)), TrackEmbedding("cap-2", np.zeros(384, np.float32))]
    got = read_embeddings(
        write_embeddings(tmp_path, "captions", captions, model_id=BUNDLED_TEXT_ENCODER, pooling="mean")
    )
    assert got.segments is None and got.track.shape == (2, 384)
    with h5py.File(tmp_path / "captions.h5") as f:
        assert "segments" not in f


def test_hdf5_all_tracks_failed_writes_an_empty_file(tmp_path):
    got = read_embeddings(write_embeddings(tmp_path, "empty", [], model_id="m", pooling="last"))
    assert len(got) == 0 and got.track.shape[0] == 0


def test_hdf5_rejects_inconsistent_input(tmp_path):
    with pytest.raises(ValueError, match="duplicate"):
        write_embeddings(
            tmp_path, "x", [track_embedding("a", 1, 0), track_embedding("a", 1, 1)], model_id="m", pooling="last"
        )
    with pytest.raises(ValueError, match="shapes"):
        write_embeddings(
            tmp_path,
            "x",
            [track_embedding("a", 1, 0), track_embedding("b", 1, 1, shape=(5,))],
            model_id="m",
            pooling="last",
        )
    with pytest.raises(ValueError, match="start times"):
        TrackEmbedding("a", np.zeros(4), np.zeros((2, 4)), np.zeros(1), np.zeros(2))


def test_read_many_files_concatenates_and_keeps_the_latest_copy(tmp_path):
    a, b, b2, c = (
        track_embedding("a", 2, 0),
        track_embedding("b", 3, 1),
        track_embedding("b", 1, 2),
        track_embedding("c", 2, 3),
    )
    first = write_embeddings(tmp_path, "1", [a, b], model_id="m", pooling="last")
    empty = write_embeddings(tmp_path, "2", [], model_id="m", pooling="last")
    second = write_embeddings(tmp_path, "3", [b2, c], model_id="m", pooling="last")

    got = read_embedding_files([first, empty, second])

    assert got.track_ids == ["a", "b", "c"]
    np.testing.assert_array_equal(got.track, np.stack([a.track, b2.track, c.track]))
    for e in (a, b2, c):
        np.testing.assert_array_equal(got.segments_of(e.track_id), e.segments)
    np.testing.assert_array_equal(got.segment_track_index, [0, 0, 1, 2, 2])

    other = write_embeddings(tmp_path, "4", [track_embedding("d", 1, 4)], model_id="other", pooling="last")
    with pytest.raises(ValueError, match="cannot mix"):
        read_embedding_files([first, other])
