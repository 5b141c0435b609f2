import pickle

import numpy as np
import pytest
import soundfile as sf
from test_features_signals import SR, music, stereo, truncate, write

from melodex_ml.audio import AudioDecodeError, decode, open_stream, probe


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    return stereo(music(6.0))


def test_pcm16_wav_round_trips_with_exact_format_facts(tmp_path, clip):
    path = write(tmp_path / "a.wav", clip, subtype="PCM_16")
    audio = decode(path)
    assert audio.samples.dtype == np.float32 and audio.samples.shape == (2, clip.shape[0])
    np.testing.assert_allclose(audio.samples.T, clip, atol=2.0**-15)
    info = audio.info
    assert (info.sample_rate, info.channels, info.frames, info.codec, info.container, info.backend) == (
        SR, 2, clip.shape[0], "pcm_s16", "wav", "libsndfile",
    )  # fmt: skip
    assert info.duration_s == pytest.approx(6.0)
    assert info.bit_rate_kbps == pytest.approx(SR * 2 * 16 / 1000)


@pytest.mark.parametrize(
    ("subtype", "codec", "tolerance"),
    [("PCM_U8", "pcm_u8", 2.0**-7), ("FLOAT", "pcm_f32", 0.0), ("PCM_24", "pcm_s24", 2.0**-23)],
)
def test_sample_formats(tmp_path, clip, subtype, codec, tolerance):
    path = write(tmp_path / "a.wav", clip, subtype=subtype)
    audio = decode(path)
    assert audio.info.codec == codec
    np.testing.assert_allclose(audio.samples.T, clip, atol=tolerance + 1e-7)


@pytest.mark.parametrize(("channels", "rate"), [(1, 8000), (6, SR), (2, 192_000)])
def test_channel_counts_and_rates_are_kept(tmp_path, channels, rate):
    samples = np.tile(music(1.0, sr=rate)[:, None], (1, channels)) * np.linspace(1.0, 0.5, channels)
    audio = decode(write(tmp_path / "a.wav", samples.astype(np.float32), sr=rate, subtype="PCM_16"))
    assert audio.samples.shape == (channels, rate)
    assert audio.sample_rate == rate


@pytest.mark.parametrize(("fmt", "subtype", "codec"), [("FLAC", "PCM_16", "flac"), ("OGG", "VORBIS", "vorbis")])
def test_compressed_formats_report_codec_and_bit_rate(tmp_path, clip, fmt, subtype, codec):
    path = write(tmp_path / f"a.{fmt.lower()}", clip, format=fmt, subtype=subtype)
    audio = decode(path)
    assert audio.info.codec == codec
    assert 30 < audio.info.bit_rate_kbps < 1411
    assert np.corrcoef(audio.samples[0, : clip.shape[0]], clip[:, 0])[0, 1] > 0.99


def test_nonfinite_samples_are_zeroed_and_counted(tmp_path, clip):
    broken = clip.copy()
    broken[100:110, 0] = np.nan
    broken[5000, 1] = np.inf
    broken[6000, 0] = -np.inf
    path = write(tmp_path / "nan.wav", broken, subtype="FLOAT")
    audio = decode(path)
    assert audio.nonfinite_samples == 12
    assert np.isfinite(audio.samples).all()
    assert audio.samples[0, 100:110].tolist() == [0.0] * 10
    with pytest.raises(AudioDecodeError, match=r"nan\.wav: 12 NaN/Inf samples"):
        decode(path, nonfinite="error")


def test_blocks_concatenate_to_the_whole_file(tmp_path, clip):
    path = write(tmp_path / "a.wav", clip, subtype="FLOAT")
    stream = open_stream(path, block_frames=10_000)
    blocks = list(stream)
    assert max(b.shape[1] for b in blocks) == 10_000
    assert stream.frames_read == clip.shape[0]
    np.testing.assert_array_equal(np.concatenate(blocks, axis=1), clip.T)


def test_flac_that_fails_halfway_names_file_and_position(tmp_path, clip):
    path = truncate(write(tmp_path / "cut.flac", clip, format="FLAC"))
    with pytest.raises(AudioDecodeError) as caught:
        decode(path)
    assert "cut.flac" in str(caught.value)
    assert "decoding failed at" in caught.value.reason and "of 6.0 s" in caught.value.reason


def test_wav_whose_header_promises_more_data_is_reported_truncated(tmp_path, clip):
    path = truncate(write(tmp_path / "cut.wav", clip, subtype="PCM_16"))
    with pytest.raises(AudioDecodeError, match="truncated: the header declares"):
        decode(path)


def test_mp3_that_stops_early_is_reported(tmp_path):
    path = truncate(write(tmp_path / "cut.mp3", stereo(music(12.0)), format="MP3"))
    with pytest.raises(AudioDecodeError, match=r"decoder stopped at \d+\.\d s of the 12\.0 s"):
        decode(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "file not found"), (b"", "empty file"), (b"RIFF not really audio" * 100, "not a recognised audio file")],
)
def test_unreadable_files_get_clear_errors(tmp_path, content, message):
    path = tmp_path / "bad.wav"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(AudioDecodeError, match=message) as caught:
        probe(path)
    assert caught.value.path == path


def test_decode_error_survives_pickling_between_processes(tmp_path):
    error = pickle.loads(pickle.dumps(AudioDecodeError(tmp_path / "x.mp3", "broken")))
    assert (error.path, error.reason, str(error)) == (tmp_path / "x.mp3", "broken", f"{tmp_path / 'x.mp3'}: broken")


def test_ffmpeg_fallback_decodes_what_libsndfile_cannot(tmp_path, monkeypatch):
    mono = music(4.0)
    path = write(tmp_path / "a.ogg", mono, format="OGG", subtype="VORBIS")
    expected = decode(path).samples[0]

    def refuse(*args, **kwargs):
        raise sf.LibsndfileError(1, "Format not recognised.")

    monkeypatch.setattr(sf, "info", refuse)
    audio = decode(path)
    assert audio.info.backend == "ffmpeg" and audio.info.codec == "vorbis"
    assert audio.samples.shape[0] == 1  # Essentia's loader returns stereo; the mono source stays mono
    n = min(expected.size, audio.samples.shape[1])
    assert abs(audio.samples.shape[1] - mono.size) < 2048
    assert np.corrcoef(audio.samples[0, :n], expected[:n])[0, 1] > 0.99
