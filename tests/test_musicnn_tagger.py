"""MusicnnTagger end to end: windows, segments, batching, caching, files, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from melodex_ml.embeddings.hdf5 import read_embeddings, write_embeddings
from melodex_ml.embeddings.musicnn.frontend import EDGE_PAD, HOP, PATCH_FRAMES, WINDOW_SAMPLES
from melodex_ml.embeddings.musicnn.patches import PatchWindower
from melodex_ml.embeddings.musicnn.records import PATCH_SECONDS, pool_patches, segment_layout
from melodex_ml.embeddings.musicnn.tagger import MusicnnConfig, MusicnnTagger
from melodex_ml.embeddings.musicnn.weights import checkpoint_sha256
from melodex_ml.models.cache import ModelCache

SR = 16_000


def tone(seconds: float, rate: int = SR, hz: float = 440.0, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    note = 0.3 * np.sin(2 * np.pi * hz * t) * (1 + 0.5 * np.sin(2 * np.pi * 2 * t))
    return np.repeat(note[None], channels, axis=0).astype(np.float32)


@pytest.fixture(scope="module")
def cache():
    return ModelCache()


@pytest.fixture(scope="module")
def msd(cache):
    return MusicnnTagger.load("msd-musicnn", cache=cache, config=MusicnnConfig(batch_size=8))


# --------------------------------------------------------------------------- windows and segments


@pytest.mark.parametrize("hop_frames", [PATCH_FRAMES, 93])
def test_windows_are_slices_of_the_whole_padded_signal_however_the_stream_is_cut(hop_frames):
    x = np.cos(np.arange(70_001) * 0.01).astype(np.float32) * np.linspace(0, 1, 70_001, dtype=np.float32)
    padded = np.pad(x, EDGE_PAD, mode="reflect")
    frames = 1 + len(x) // HOP
    expected = [padded[s : s + WINDOW_SAMPLES] for s in range(0, (frames - PATCH_FRAMES) * HOP + 1, hop_frames * HOP)]
    for cuts in ([len(x)], [100, 200, 300], list(range(1000, len(x), 7919))):
        windower = PatchWindower(hop_frames)
        windows = [w for chunk in np.split(x, cuts) for w in windower.push(chunk)] + windower.finish()
        assert len(windows) == len(expected) == (frames - PATCH_FRAMES) // hop_frames + 1
        for got, want in zip(windows, expected, strict=True):
            np.testing.assert_array_equal(got, want)
        assert not windower.padded


def test_segments_follow_the_feature_rule_and_pool_their_own_patches():
    assert segment_layout(75.0, 30.0) == [(0.0, 30.0), (30.0, 60.0), (60.0, 75.0)]
    assert segment_layout(70.0, 30.0) == [(0.0, 30.0), (30.0, 70.0)]  # a 10 s tail joins the last segment
    assert segment_layout(2.0, 30.0) == [(0.0, 2.0)]
    starts = np.arange(23) * PATCH_SECONDS  # 23 patches over 68.8 s
    values = np.arange(23, dtype=np.float32)[:, None]
    segments, seg_emb, seg_tags, track_emb, track_tags = pool_patches(values, 2 * values, starts, 70.0, 30.0)
    centres = starts + PATCH_SECONDS / 2
    first = values[centres < 30].mean()
    assert [(s.start_s, s.end_s, s.n_patches) for s in segments] == [(0.0, 30.0, 10), (30.0, 70.0, 13)]
    assert seg_emb[:, 0].tolist() == pytest.approx([first, values[centres >= 30].mean()])
    assert seg_tags[0, 0] == pytest.approx(2 * first)
    assert track_emb[0] == pytest.approx(11.0) and track_tags[0] == pytest.approx(22.0)


# --------------------------------------------------------------------------- the tagger


def test_results_carry_labels_identity_segments_and_finite_values(msd):
    result = msd.analyse(tone(65.0), SR, key="t1")
    out = result.outputs["msd-musicnn"]
    assert result.key == "t1" and result.flags == () and result.duration_s == pytest.approx(65.0)
    assert result.n_patches == (1 + 65 * SR // HOP - PATCH_FRAMES) // PATCH_FRAMES + 1 == 21
    assert [(s.start_s, s.end_s) for s in result.segments] == [(0.0, 30.0), (30.0, 65.0)]
    assert out.embedding.shape == (200,) and out.tags.shape == (50,)
    assert out.segment_embeddings.shape == (2, 200) and out.segment_tags.shape == (2, 50)
    assert out.layer == "model/dense/BiasAdd" and out.checkpoint_sha256 == checkpoint_sha256("msd-musicnn")
    assert len(out.checkpoint_sha256) == 64 and out.labels[0] == "rock" and len(out.labels) == 50
    assert np.isfinite(out.embedding).all() and ((out.tags > 0) & (out.tags < 1)).all()
    np.testing.assert_allclose(  # track = mean over patches: 10 + 11 patches in the two segments
        out.embedding, (10 * out.segment_embeddings[0] + 11 * out.segment_embeddings[1]) / 21, rtol=1e-5, atol=1e-5
    )
    assert out.top_tags(3)[0][1] == max(out.tag_probabilities().values())


def test_batching_does_not_change_the_numbers(cache):
    audio = tone(20.0, hz=330.0)
    one = MusicnnTagger.load("msd-musicnn", cache=cache, config=MusicnnConfig(batch_size=1)).analyse(audio, SR)
    many = MusicnnTagger.load("msd-musicnn", cache=cache, config=MusicnnConfig(batch_size=32)).analyse(audio, SR)
    np.testing.assert_allclose(one.outputs["msd-musicnn"].tags, many.outputs["msd-musicnn"].tags, atol=1e-6)
    np.testing.assert_allclose(one.outputs["msd-musicnn"].embedding, many.outputs["msd-musicnn"].embedding, atol=1e-4)


def test_models_load_once_per_process_and_device(cache):
    first = MusicnnTagger.load(cache=cache)
    again = MusicnnTagger.load(cache=cache, config=MusicnnConfig(batch_size=4))
    assert [n.name for n in first.networks] == ["msd-musicnn", "mtt-musicnn"]
    assert all(a is b for a, b in zip(first.networks, again.networks, strict=True))
    assert {"musicnn:msd-musicnn:cpu", "musicnn:mtt-musicnn:cpu"} <= set(cache.load_seconds)
    with pytest.raises(ValueError, match="unknown MusiCNN model"):
        MusicnnConfig(models=("vgg",))


def test_a_file_streams_to_the_same_result_as_its_samples(msd, tmp_path):
    audio = tone(12.0, rate=44_100, channels=2)
    path = tmp_path / "a.flac"
    sf.write(path, audio.T, 44_100, subtype="PCM_24")
    from_file = msd.analyse_file(path, key="a")
    in_memory = msd.analyse(sf.read(path, dtype="float32", always_2d=True)[0].T, 44_100)
    assert from_file.channels == 2 and from_file.sample_rate == 44_100
    np.testing.assert_allclose(from_file.outputs["msd-musicnn"].tags, in_memory.outputs["msd-musicnn"].tags, atol=1e-6)


def test_a_batch_records_bad_files_and_keeps_the_good_ones(cache, tmp_path):
    good = tmp_path / "good.wav"
    sf.write(good, tone(4.0).T, SR)
    bad = tmp_path / "bad.mp3"
    bad.write_bytes(b"\x00garbage" * 100)
    tracks = [("g1", good), ("b", bad), ("g2", good), ("missing", tmp_path / "nope.wav")]
    for workers in (0, 2):
        tagger = MusicnnTagger.load("mtt-musicnn", cache=cache, config=MusicnnConfig(num_workers=workers))
        batch = tagger.analyse_tracks(tracks)
        assert sorted(r.key for r in batch.results) == ["g1", "g2"]
        assert sorted(f.item for f in batch.failures) == ["b", "missing"]
        assert all(f.stage == "embeddings" and f.error_type == "AudioDecodeError" for f in batch.failures)


def test_hdf5_record_round_trip(msd, tmp_path):
    result = msd.analyse(tone(8.0), SR, key="x")
    record = result.track_embedding("msd-musicnn")
    path = write_embeddings(tmp_path, "b0", [record], model_id="msd-musicnn", pooling="mean")
    stored = read_embeddings(path)
    np.testing.assert_array_equal(stored.vector("x"), result.outputs["msd-musicnn"].embedding)
    assert stored.segment_end_s.tolist() == [8.0]


# --------------------------------------------------------------------------- bad input


def test_shorter_than_a_patch_is_zero_padded_and_flagged(msd):
    result = msd.analyse(tone(0.5), SR)
    assert result.padded and result.flags == ("padded",) and result.n_patches == 1
    assert [(s.start_s, s.end_s) for s in result.segments] == [(0.0, 0.5)]
    assert np.isfinite(result.outputs["msd-musicnn"].tags).all()
    # Padding with zeros is the same as analysing the clip followed by silence up to one patch.
    filled = np.pad(tone(0.5), ((0, 0), (0, (PATCH_FRAMES - 1) * HOP - 8000)))
    np.testing.assert_allclose(
        result.outputs["msd-musicnn"].tags, msd.analyse(filled, SR).outputs["msd-musicnn"].tags, atol=1e-6
    )
    assert msd.analyse(np.full(10, 0.1, np.float32), SR).padded  # even a handful of samples


def test_silence_gives_finite_outputs(msd):
    result = msd.analyse(np.zeros((2, 5 * SR), np.float32), SR)
    assert np.isfinite(result.outputs["msd-musicnn"].embedding).all()
    assert np.isfinite(result.outputs["msd-musicnn"].tags).all()


def test_nan_samples_are_silenced_and_counted_or_refused(cache):
    audio = tone(4.0)
    audio[0, 1000:1100] = np.nan
    audio[0, 2000] = np.inf
    result = MusicnnTagger.load("msd-musicnn", cache=cache).analyse(audio, SR)
    assert result.nonfinite_samples == 101 and "nonfinite_samples" in result.flags
    assert np.isfinite(result.outputs["msd-musicnn"].tags).all()
    strict = MusicnnTagger.load("msd-musicnn", cache=cache, config=MusicnnConfig(nonfinite="error"))
    with pytest.raises(ValueError, match="NaN"):
        strict.analyse(audio, SR)


def test_channel_layouts_mix_down_to_the_same_mono(msd):
    mono = msd.analyse(tone(4.0), SR)
    surround = msd.analyse(tone(4.0, channels=6), SR)  # 5.1 with the same signal everywhere
    assert surround.channels == 6
    np.testing.assert_allclose(mono.outputs["msd-musicnn"].tags, surround.outputs["msd-musicnn"].tags, atol=1e-6)
    np.testing.assert_allclose(
        mono.outputs["msd-musicnn"].tags, msd.analyse(tone(4.0)[0], SR).outputs["msd-musicnn"].tags, atol=1e-6
    )


@pytest.mark.parametrize("rate", [8_000, 192_000])
def test_other_sample_rates_are_resampled_to_the_same_view(msd, rate):
    reference = msd.analyse(tone(6.0), SR).outputs["msd-musicnn"]
    other = msd.analyse(tone(6.0, rate=rate), rate).outputs["msd-musicnn"]
    assert np.isfinite(other.tags).all()
    # A 440 Hz tone is the same tone at any rate; at 8 kHz the bands above 4 kHz are empty, and so close to
    # empty for this tone anyway.
    assert np.corrcoef(reference.tags, other.tags)[0, 1] > 0.99


@pytest.mark.parametrize(
    ("samples", "rate", "message"),
    [
        (np.zeros((0,), np.float32), SR, "no audio"),
        (np.zeros((1000, 2), np.float32), SR, "channels, samples"),
        (np.zeros((1, 100), np.float32), 0, "sample rate"),
        (np.full((1, 5 * SR), 1e30, np.float32), SR, "non-finite outputs"),
    ],
)
def test_input_that_cannot_be_analysed_is_a_clear_error(msd, samples, rate, message):
    with pytest.raises(ValueError, match=message):
        msd.analyse(samples, rate)
