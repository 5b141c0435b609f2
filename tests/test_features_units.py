"""Each descriptor family against an independent reference (Essentia, librosa, the EBU test signals)."""

import essentia.standard as es
import librosa
import numpy as np
import pytest
import soxr
from test_features_signals import music

from melodex_ml.features import loudness, rhythm, tonal
from melodex_ml.features.config import ExtractorConfig
from melodex_ml.features.resample import DcBlocker, StreamResampler
from melodex_ml.features.segments import Segmenter, TimeBuffer
from melodex_ml.features.spectral import Frames, SpectralAnalyzer

SR = 22_050


def measure(samples: np.ndarray, rate: int, block: int = 30_000) -> loudness.SpanLevels:
    meter = loudness.LevelMeter(rate, samples.shape[0])
    for i in range(0, samples.shape[1], block):
        meter.update(samples[:, i : i + block])
    return loudness.span_levels(meter.finish(), 0.0, samples.shape[1] / rate)


def test_ebu_tech_3341_case_1_stereo_sine_at_minus_23_dbfs_reads_minus_23_lufs():
    t = np.arange(20 * 48_000) / 48_000
    sine = (10 ** (-23 / 20) * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    levels = measure(np.stack([sine, sine]), 48_000)
    assert levels.integrated_lufs == pytest.approx(-23.0, abs=0.1)
    assert levels.loudness_range_lu == pytest.approx(0.0, abs=0.1)


def test_loudness_matches_essentia_at_48k_and_is_rate_independent():
    quiet_then_loud = music(40.0, sr=48_000)
    quiet_then_loud[: 48_000 * 15] *= 0.1
    signal = np.stack([quiet_then_loud, 0.8 * quiet_then_loud])
    ours = measure(signal, 48_000)
    _, _, integrated, lra = es.LoudnessEBUR128(sampleRate=48_000)(np.ascontiguousarray(signal.T))
    assert ours.integrated_lufs == pytest.approx(integrated, abs=0.05)
    assert ours.loudness_range_lu == pytest.approx(lra, abs=0.3)
    at_44k = measure(soxr.resample(signal.T, 48_000, 44_100).T.copy(), 44_100)
    assert at_44k.integrated_lufs == pytest.approx(ours.integrated_lufs, abs=0.1)


def test_surround_channels_weigh_1_5_db_more_and_lfe_nothing():
    tone = music(5.0)
    silent = np.zeros_like(tone)
    front = measure(np.stack([tone, silent, silent, silent, silent, silent]), 44_100).integrated_lufs
    surround = measure(np.stack([silent, silent, silent, silent, tone, silent]), 44_100).integrated_lufs
    lfe = measure(np.stack([silent, silent, silent, tone, silent, silent]), 44_100).integrated_lufs
    assert surround - front == pytest.approx(10 * np.log10(1.41), abs=0.01)
    assert lfe is None  # nothing weighted above the -70 LUFS gate


def test_peak_clipping_and_dc_offset_per_span():
    signal = np.full((2, 44_100), 0.25, np.float32)
    signal[0, :441] = 1.0
    levels = measure(signal, 44_100)
    assert levels.peak_dbfs == pytest.approx(0.0)
    assert levels.clipped_ratio == pytest.approx(441 / (2 * 44_100))
    assert levels.dc_offset == pytest.approx((0.25 * (44_100 - 441) + 441) / 44_100)


def test_loudness_is_none_below_one_gating_block():
    assert measure(np.full((1, 4_000), 0.5, np.float32), 44_100).integrated_lufs is None


@pytest.fixture(scope="module")
def analyzer() -> SpectralAnalyzer:
    return SpectralAnalyzer(ExtractorConfig())


def _frames(analyzer: SpectralAnalyzer, y: np.ndarray) -> Frames:
    padded = np.pad(y, analyzer.context)
    n_frames = int(np.ceil(y.size / analyzer.hop))
    return analyzer.analyze(padded, n_frames, None).frames


def test_spectral_moments_equal_librosa_definitions(analyzer):
    y = music(5.0, sr=SR) + 0.01 * np.random.default_rng(0).standard_normal(5 * SR).astype(np.float32)
    frames = _frames(analyzer, y)
    spectrum = np.abs(librosa.stft(y, n_fft=2048, hop_length=512, center=True, pad_mode="constant"))
    np.testing.assert_allclose(frames.centroid, librosa.feature.spectral_centroid(S=spectrum, sr=SR)[0], rtol=1e-3)
    np.testing.assert_allclose(frames.bandwidth, librosa.feature.spectral_bandwidth(S=spectrum, sr=SR)[0], rtol=1e-3)
    np.testing.assert_allclose(frames.rolloff, librosa.feature.spectral_rolloff(S=spectrum, sr=SR)[0], rtol=1e-6)
    zcr = librosa.feature.zero_crossing_rate(y, frame_length=2048, hop_length=512, center=True)[0]
    # librosa pads the edges by repeating samples, we by zeros: compare frames clear of the padding
    np.testing.assert_allclose(frames.zero_crossing_rate[2:-2], zcr[2:-2], atol=1e-6)
    rms = librosa.feature.rms(y=y, frame_length=2048, hop_length=512, center=True, pad_mode="constant")[0]
    np.testing.assert_allclose(frames.rms_db, 20 * np.log10(np.maximum(rms, 1e-5)), atol=1e-3)


def test_segmented_frames_equal_one_stft_of_the_whole_signal(analyzer):
    y = music(75.0, sr=SR)
    whole = _frames(analyzer, y)
    segmenter = Segmenter(ExtractorConfig().segment_frames * analyzer.hop, analyzer.context)
    parts, previous = [], None
    segments = [*segmenter.push(y[:1_000_000]), *segmenter.push(y[1_000_000:]), *segmenter.finish()]
    for segment in segments:
        n_frames = int(np.ceil((segment.stop - segment.start) / analyzer.hop))
        spectral = analyzer.analyze(segment.padded, n_frames, previous)
        parts.append(spectral.frames)
        previous = spectral.last_mel_db
    joined = Frames.concat(parts)
    assert joined.count == whole.count
    np.testing.assert_allclose(joined.mfcc, whole.mfcc, atol=1e-2)
    np.testing.assert_allclose(joined.onset, whole.onset, atol=1e-3)
    assert [(s.start, s.stop) for s in segments] == [(0, 661_504), (661_504, y.size)]  # 30 s + 45 s tail


@pytest.mark.parametrize(
    ("seconds", "lengths"), [(12.0, [12.0]), (40.0, [40.0]), (50.0, [30.0, 20.0]), (95.0, [30.0, 30.0, 35.0])]
)
def test_segment_plan_merges_short_tails(seconds, lengths):
    segmenter = Segmenter(1292 * 512, 1024)
    y = np.zeros(int(seconds * SR), np.float32)
    segments = [s for i in range(0, y.size, 100_000) for s in segmenter.push(y[i : i + 100_000])]
    segments += list(segmenter.finish())
    assert [round((s.stop - s.start) / SR) for s in segments] == [round(x) for x in lengths]
    assert all(s.start % 512 == 0 for s in segments)
    assert segmenter._buffer.size < 1.5 * 1292 * 512 + 100_000 + 2048  # memory stays bounded


def test_time_buffer_drops_consumed_audio():
    buffer = TimeBuffer(16_000)
    buffer.push(np.arange(48_000, dtype=np.float32))
    first = buffer.take(0.0, 1.0)
    second = buffer.take(1.0, None)
    assert (first[0], first.size, second[0], second.size) == (0, 16_000, 16_000, 32_000)
    assert buffer._buffer.size == 0


def test_streamed_resampling_and_dc_removal_equal_one_shot():
    x = music(3.0) + 0.3
    resampler, blocker = StreamResampler(44_100, SR), DcBlocker(SR)
    parts = [resampler(x[i : i + 9_999]) for i in range(0, x.size, 9_999)] + [resampler(x[:0], last=True)]
    streamed = np.concatenate(parts)
    np.testing.assert_allclose(streamed, soxr.resample(x, 44_100, SR, quality="HQ"), atol=1e-6)
    filtered = np.concatenate([blocker(streamed[i : i + 5_000]) for i in range(0, streamed.size, 5_000)])
    assert abs(filtered[SR:].mean()) < 1e-3  # the +0.3 offset is gone after the first second


@pytest.mark.parametrize("bpm", [90.0, 120.0, 143.0])
def test_click_track_tempo_and_beats(analyzer, bpm):
    y = soxr.resample(music(30.0, bpm=bpm), 44_100, SR)
    frames = _frames(analyzer, y)
    periodicity = rhythm.OnsetPeriodicity.of(frames.onset)
    beats = rhythm.track_beats(frames.onset, rhythm.prior_tempo(periodicity, SR, 512), SR, 512)
    tempo = rhythm.tempo_from_beats(beats)
    assert tempo == pytest.approx(bpm, rel=0.01)
    assert abs(beats.size - 30.0 * bpm / 60) <= 3
    assert rhythm.pulse_clarity(periodicity, tempo, SR, 512) > 0.3


def test_periodicity_of_segments_adds_up_to_the_whole():
    onset = np.random.default_rng(0).random(3000)
    a, b = rhythm.OnsetPeriodicity.of(onset[:1500]), rhythm.OnsetPeriodicity.of(onset[1500:])
    assert (a + b).counts[10] == 2 * (1500 - 10)
    assert (a + b).normalized()[0] == 1.0


def test_tempo_needs_regular_beats():
    assert rhythm.tempo_from_beats(np.array([0.0, 0.5, 1.0])) is None
    assert rhythm.tempo_from_beats(np.array([0.0, 0.5, 1.0, 1.5, 2.5, 3.0])) == pytest.approx(120.0)


@pytest.mark.parametrize(("tonic", "mode", "name"), [(57, "minor", "A"), (60, "major", "C"), (54, "minor", "F#")])
def test_key_and_mode_of_chord_progressions(analyzer, tonic, mode, name):
    frames = _frames(analyzer, soxr.resample(music(16.0, tonic_midi=tonic, mode=mode), 44_100, SR))
    key = tonal.estimate_key(frames.chroma.mean(axis=1))
    assert (key.name, key.mode) == (name, mode)
    assert key.pitch_class == tonal.KEY_NAMES.index(name)


def test_tuning_of_a_detuned_recording(analyzer):
    y = soxr.resample(music(10.0, a4_hz=446.0), 44_100, SR)
    padded = np.pad(y, analyzer.context)
    spectral = analyzer.analyze(padded, int(np.ceil(y.size / 512)), None)
    assert tonal.tuning_hz(analyzer.tuning(spectral.pitch_hz)) == pytest.approx(446.0, abs=1.5)


def test_no_key_without_chroma():
    assert tonal.estimate_key(np.zeros(12)) is None
