"""Demucs separation with a tiny HTDemucs saved the way Demucs' local repos expect."""

from __future__ import annotations

import urllib.error
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from tiny_models import DEMUCS_SOURCES, save_demucs_repo, tiny_htdemucs

from melodex_ml.models.cache import ModelCache, ModelUnavailable
from melodex_ml.settings import MelodexSettings
from melodex_ml.stems import StemSeparator, load_demucs, separate_tracks, write_stems

SOURCES = DEMUCS_SOURCES
MODEL_RATE = 44100


@pytest.fixture(scope="module")
def tiny_demucs() -> torch.nn.Module:
    return tiny_htdemucs()


@pytest.fixture(scope="module")
def demucs_repo(tmp_path_factory, tiny_demucs) -> Path:
    return save_demucs_repo(tmp_path_factory.mktemp("demucs-repo"), tiny_demucs)


@pytest.fixture
def settings(tmp_path, demucs_repo) -> MelodexSettings:
    return MelodexSettings(home=tmp_path / "home", demucs_model="tiny", demucs_repo=demucs_repo, device="cpu")


def stereo_noise(seconds: float, rate: int, seed: int) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal((2, round(seconds * rate)))).astype(np.float32)


def test_loads_the_saved_weights_not_random_ones(demucs_repo, tiny_demucs):
    bag = load_demucs("tiny", demucs_repo)
    loaded = bag.models[0].state_dict()
    for key, value in tiny_demucs.state_dict().items():
        assert torch.equal(loaded[key], value), key
    assert not bag.training


def test_separate_returns_each_stem_at_the_model_rate(settings):
    separator = StemSeparator.load(settings, cache=ModelCache())
    audio = stereo_noise(2.5, 22050, seed=1)  # resampled to 44.1 kHz inside

    stems = separator.separate(audio, 22050)

    assert separator.sample_rate == MODEL_RATE
    assert list(stems) == SOURCES
    for stem in stems.values():
        assert stem.shape == (2, 2 * audio.shape[1])
        assert stem.dtype == np.float32 and np.isfinite(stem).all()
    assert not np.allclose(stems["drums"], stems["vocals"])


def test_mono_is_separated_as_duplicated_stereo(settings):
    separator = StemSeparator.load(settings, cache=ModelCache())
    mono = stereo_noise(2.0, MODEL_RATE, seed=2)[0]

    from_mono = separator.separate(mono, MODEL_RATE)
    from_stereo = separator.separate(np.stack([mono, mono]), MODEL_RATE)

    for name in SOURCES:
        np.testing.assert_allclose(from_mono[name], from_stereo[name], atol=1e-6)


def test_model_is_loaded_once_for_many_tracks(settings, tmp_path, monkeypatch):
    from demucs import pretrained

    calls = []
    real_get_model = pretrained.get_model
    monkeypatch.setattr(pretrained, "get_model", lambda *a, **k: calls.append(a) or real_get_model(*a, **k))
    cache = ModelCache()
    tracks = []
    for i in range(3):
        path = tmp_path / f"t{i}.wav"
        sf.write(path, stereo_noise(2.0, MODEL_RATE, seed=10 + i).T, MODEL_RATE)
        tracks.append((f"t{i}", path))
    (tmp_path / "broken.wav").write_bytes(b"not audio at all")
    tracks.append(("broken", tmp_path / "broken.wav"))

    def load(path: Path) -> tuple[np.ndarray, int]:
        data, rate = sf.read(path, dtype="float32", always_2d=True)
        return data.T, rate

    first = separate_tracks(StemSeparator.load(settings, cache=cache), tracks[:2], tmp_path / "stems", load=load)
    second = separate_tracks(StemSeparator.load(settings, cache=cache), tracks[2:], tmp_path / "stems", load=load)

    assert len(calls) == 1 and len(cache.load_seconds) == 1
    assert sorted(first.written) == ["t0", "t1"] and sorted(second.written) == ["t2"]
    assert [p.name for p in second.written["t2"]] == [f"{s}.flac" for s in SOURCES]
    assert [(f.stage, f.item, f.path) for f in second.failures] == [("stems", "broken", str(tmp_path / "broken.wav"))]
    assert not (tmp_path / "stems" / "broken").exists()


def test_write_stems_round_trips_and_overwrites(tmp_path):
    rng = np.random.default_rng(3)
    stems = {"vocals": rng.uniform(-0.9, 0.9, (2, 4000)).astype(np.float32), "bass": np.zeros((2, 4000), np.float32)}

    paths = write_stems("track-1", stems, 22050, tmp_path)

    assert paths == [tmp_path / "track-1" / "vocals.flac", tmp_path / "track-1" / "bass.flac"]
    data, rate = sf.read(paths[0], dtype="float32", always_2d=True)
    assert rate == 22050 and sf.info(paths[0]).format == "FLAC"
    np.testing.assert_allclose(data.T, stems["vocals"], atol=1 / 2**15)

    write_stems("track-1", {"vocals": -stems["vocals"]}, 22050, tmp_path)
    again, _ = sf.read(paths[0], dtype="float32", always_2d=True)
    np.testing.assert_allclose(again.T, -stems["vocals"], atol=1 / 2**15)
    assert sorted(p.name for p in (tmp_path / "track-1").iterdir()) == ["bass.flac", "vocals.flac"]


def test_a_crash_while_writing_keeps_the_previous_stem(tmp_path, monkeypatch):
    import melodex_ml.stems as stems_module

    good = np.full((2, 1000), 0.5, np.float32)
    (path,) = write_stems("t", {"drums": good}, 8000, tmp_path)

    def crash(file, *args, **kwargs):
        Path(file).write_bytes(b"half a flac")
        raise OSError("disk full")

    monkeypatch.setattr(stems_module.sf, "write", crash)
    with pytest.raises(OSError, match="disk full"):
        write_stems("t", {"drums": -good}, 8000, tmp_path)

    monkeypatch.undo()
    data, _ = sf.read(path, dtype="float32", always_2d=True)
    np.testing.assert_allclose(data.T, good, atol=1 / 2**15)
    assert [p.name for p in (tmp_path / "t").iterdir()] == ["drums.flac"]


@pytest.mark.parametrize("bad_id", ["", "..", "a/b"])
def test_write_stems_rejects_ids_that_escape_the_folder(tmp_path, bad_id):
    with pytest.raises(ValueError):
        write_stems(bad_id, {"drums": np.zeros((2, 10), np.float32)}, 8000, tmp_path)


def test_bad_audio_gets_a_clear_error(settings):
    separator = StemSeparator.load(settings, cache=ModelCache())
    with pytest.raises(ValueError, match="NaN"):
        separator.separate(np.full((2, 1000), np.nan, np.float32), MODEL_RATE)
    with pytest.raises(ValueError, match="channels, samples"):
        separator.separate(np.zeros((2, 0), np.float32), MODEL_RATE)


def test_missing_repo_is_model_unavailable(tmp_path):
    with pytest.raises(ModelUnavailable, match="MELODEX_DEMUCS_REPO"):
        load_demucs("htdemucs", tmp_path / "does-not-exist")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelUnavailable, match=r"not found in .*empty.*MELODEX_DEMUCS_REPO"):
        load_demucs("htdemucs", tmp_path / "empty")


def test_no_repo_and_nothing_cached_offline_is_model_unavailable(tmp_path, monkeypatch):
    import huggingface_hub.constants as hf_constants

    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "hf"))

    def no_network(url, *args, **kwargs):
        raise urllib.error.URLError(f"offline: {url}")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_network)
    settings = MelodexSettings(home=tmp_path, demucs_model="htdemucs", demucs_repo=None, device="cpu")

    with pytest.raises(ModelUnavailable, match="MELODEX_DEMUCS_REPO") as excinfo:
        StemSeparator.load(settings, cache=ModelCache())
    assert "955717e8" in str(excinfo.value)  # the hint names the exact weights file to fetch
