import numpy as np
import pytest
import soundfile as sf

from melodex_ml.models.genre_model import load_model_folder
from melodex_ml.models.mfcc_cnn import MfccConfig, mfcc_windows
from melodex_ml.training.audio_segments import segment_bounds
from melodex_ml.training.evaluation_split import make_evaluation_split
from melodex_ml.training.labels import build_taxonomy
from melodex_ml.training.mfcc_cnn import MfccCnnConfig, prepare_mfcc, train_mfcc_cnn
from melodex_ml.training.torch_loop import LoopConfig

RATE = 22050


def _sound(kind: str, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Three timbres a genre model must tell apart: a low hum, hiss, and a click train."""
    t = np.arange(round(seconds * RATE)) / RATE
    if kind == "hum":
        f0 = rng.uniform(90, 140)
        return 0.3 * np.sin(2 * np.pi * f0 * t) + 0.15 * np.sin(4 * np.pi * f0 * t) + 0.005 * rng.normal(size=t.size)
    if kind == "hiss":
        noise = rng.normal(size=t.size)
        return 0.1 * np.diff(noise, prepend=0.0)  # high-passed noise
    clicks = np.zeros(t.size)
    period = round(RATE * 60 / rng.uniform(100, 140))
    clicks[::period] = 0.9
    return np.convolve(clicks, np.exp(-np.arange(200) / 20.0), mode="same") + 0.002 * rng.normal(size=t.size)


@pytest.fixture(scope="module")
def timbre_library(tmp_path_factory):
    folder = tmp_path_factory.mktemp("timbres")
    rng = np.random.default_rng(0)
    paths, tags, artists = {}, {}, {}
    for kind in ("hum", "hiss", "clicks"):
        for i in range(6):
            track_id = f"{kind}{i}"
            paths[track_id] = folder / f"{track_id}.wav"
            sf.write(paths[track_id], _sound(kind, 15.0, rng).astype(np.float32), RATE)
            tags[track_id] = [kind.title()]
            artists[track_id] = f"{kind} artist {i // 2}"
    return paths, tags, artists


def test_segment_bounds_follow_the_descriptor_segmenter():
    assert segment_bounds(100, 10, 3.0) == [(0, 30), (30, 60), (60, 100)]  # 10-sample tail joins
    assert segment_bounds(80, 10, 3.0) == [(0, 30), (30, 60), (60, 80)]  # 20 >= half: its own segment
    assert segment_bounds(12, 10, 3.0) == [(0, 12)]
    assert segment_bounds(0, 10, 3.0) == []


def test_mfcc_windows_have_the_gtzan_layout():
    config = MfccConfig()
    windows = mfcc_windows(np.zeros(round(7.5 * RATE), np.float32) + 0.01, config)
    assert windows.shape == (2, 1, 130, 13) and windows.dtype == np.float32
    assert mfcc_windows(np.full(RATE, 0.1, np.float32), config).shape == (1, 1, 130, 13)  # padded up to one window
    with pytest.raises(ValueError, match="finite mono"):
        mfcc_windows(np.full(RATE, np.nan, np.float32), config)


def test_mfcc_cnn_learns_timbres_on_held_out_tracks_and_round_trips(timbre_library, tmp_path):
    paths, tags, artists = timbre_library
    config = MfccCnnConfig(loop=LoopConfig(max_epochs=20, batch_size=8, patience=5))
    prepared = prepare_mfcc(paths, config)
    assert not prepared.failures and len(prepared) == 18
    assert prepared.inputs[0].shape == (5, 1, 130, 13)
    taxonomy = build_taxonomy(tags, artists, with_inputs=prepared.tracks())
    split = make_evaluation_split(taxonomy)
    result = train_mfcc_cnn(prepared, taxonomy, split, config)
    again = train_mfcc_cnn(prepared, taxonomy, split, config)
    assert result.evaluation.accuracy == 1.0
    assert result.evaluation.metrics() == again.evaluation.metrics()  # same data + seed, same scores
    assert result.counts["n_test_tracks"] == len(split.test_track_ids)
    assert result.history and result.best_epoch is not None
    assert any("track-level split" in note for note in result.notes)

    model = load_model_folder(result.model.save(tmp_path / "cnn"))
    assert model.input_kind == "mfcc" and model.card.sample_rate == RATE
    hum = model.prepare(_sound("hum", 6.0, np.random.default_rng(9)).astype(np.float32))
    segments, global_probs, embedding = model.predict_track([hum])
    assert model.labels[int(global_probs.argmax())] == "Hum"
    assert embedding.shape == (64,) and model.embedding_source == "penultimate"
    np.testing.assert_allclose(model.predict_segments([hum]), result.model.predict_segments([hum]), rtol=1e-5)


def test_an_unreadable_file_is_a_failure_and_the_rest_go_on(timbre_library, tmp_path):
    paths, _, _ = timbre_library
    broken = tmp_path / "broken.wav"
    broken.write_text("not audio")
    prepared = prepare_mfcc({"hum0": paths["hum0"], "broken": broken})
    assert prepared.tracks() == {"hum0"}
    assert [f.item for f in prepared.failures] == ["broken"] and prepared.failures[0].stage == "models"
