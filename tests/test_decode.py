import pickle
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from mutagen.ogg import OggPage
from test_features_signals import SR, music, stereo, truncate, write

from melodex_ml.audio import (
    AudioDecodeError,
    StreamRestarted,
    check_decodes_to_end,
    decode,
    open_stream,
    probe,
    read_stream,
)

OPUS_RATE = 48_000
# Opus TOC config (packet[0] >> 3) -> frame length in ms (RFC 6716, section 3.1).
_OPUS_FRAME_MS = (10, 20, 40, 60) * 3 + (10, 20) * 2 + (2.5, 5, 10, 20) * 4


def opus_packet_samples(packet: bytes) -> int:
    """Samples (at 48 kHz) in one Opus packet, from its TOC byte and frame count."""
    config, code = packet[0] >> 3, packet[0] & 3
    frames = 1 if code == 0 else 2 if code in (1, 2) else packet[1] & 0x3F
    return int(_OPUS_FRAME_MS[config] * 48 * frames)


def overstate_ogg_opus_length(path: Path, extra: int) -> Path:
    """Set the last page's granule position ``extra`` samples past the audio its packets hold.

    The header (libsndfile and FFmpeg read the length from that granule) then declares ``extra``
    frames more than any decoder can produce: the decoder "stops short" of the header by exactly
    ``extra`` frames. mutagen recomputes each page's CRC on write.
    """
    with open(path, "rb") as handle:
        pages = []
        while True:
            try:
                pages.append(OggPage(handle))
            except EOFError:
                break
    last, before = pages[-1], pages[-2]
    last.position = before.position + sum(opus_packet_samples(p) for p in last.packets) + extra
    path.write_bytes(b"".join(page.write() for page in pages))
    return path


def write_opus(path: Path, duration_s: float) -> Path:
    return write(path, stereo(music(duration_s, sr=OPUS_RATE)), sr=OPUS_RATE, format="OGG", subtype="OPUS")


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


def test_flac_cut_in_half_fails_naming_both_decoders_and_positions(tmp_path, clip):
    path = truncate(write(tmp_path / "cut.flac", clip, format="FLAC"))
    with pytest.raises(AudioDecodeError) as caught:
        decode(path)
    assert "cut.flac" in str(caught.value)
    sndfile_part, ffmpeg_part = caught.value.reason.split("; ")
    assert sndfile_part.startswith("libsndfile decoding failed at") and "of 6.0 s" in sndfile_part
    assert ffmpeg_part.startswith("FFmpeg decoding failed at 3.") and "of 6.0 s" in ffmpeg_part


def test_wav_whose_header_promises_more_data_is_reported_truncated(tmp_path, clip):
    path = truncate(write(tmp_path / "cut.wav", clip, subtype="PCM_16"))
    with pytest.raises(AudioDecodeError, match="truncated: the header declares"):
        decode(path)


def test_mp3_that_stops_early_is_reported(tmp_path):
    path = truncate(write(tmp_path / "cut.mp3", stereo(music(12.0)), format="MP3"))
    # Both decoders get the file; the reason says what each decoded.
    both = r"libsndfile decoded [56]\.\d s of the 12\.0 s the file declares; truncated: FFmpeg decoded [56]\.\d s"
    with pytest.raises(AudioDecodeError, match=both):
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


def test_ffmpeg_decodes_what_libsndfile_does_not_know(tmp_path, monkeypatch):
    mono = music(4.0)
    path = write(tmp_path / "a.ogg", mono, format="OGG", subtype="VORBIS")
    expected = decode(path).samples

    def refuse(*args, **kwargs):
        raise sf.LibsndfileError(1, "Format not recognised.")

    monkeypatch.setattr(sf, "info", refuse)
    audio = decode(path)
    assert (audio.info.backend, audio.info.codec, audio.info.container) == ("ffmpeg", "vorbis", "ogg")
    assert audio.fallback_reason is None  # libsndfile never claimed the file: nothing to report
    # The same Vorbis bit stream through libvorbis and FFmpeg's decoder: same frames, same samples.
    assert audio.samples.shape == expected.shape == (1, mono.size)
    np.testing.assert_allclose(audio.samples, expected, atol=1e-4)


def _fail_reads_after(monkeypatch, good_reads: int) -> None:
    """libsndfile delivers ``good_reads`` blocks, then fails like its Opus reader on some valid files."""
    real_read, calls = sf.SoundFile.read, []

    def read(self, *args, **kwargs):
        calls.append(1)
        if len(calls) > good_reads:
            raise sf.LibsndfileError(26, "Supported file format but file is malformed.")
        return real_read(self, *args, **kwargs)

    monkeypatch.setattr(sf.SoundFile, "read", read)


def test_libsndfile_failing_part_way_hands_the_whole_file_to_ffmpeg(tmp_path, clip, monkeypatch):
    path = write(tmp_path / "a.flac", clip, format="FLAC", subtype="PCM_16")
    lossless = decode(path).samples
    _fail_reads_after(monkeypatch, good_reads=3)
    passes: list[int] = []

    def consume(stream):
        blocks = []
        for block in stream:
            blocks.append(block)
        passes.append(len(blocks))
        return np.concatenate(blocks, axis=1)

    stream = open_stream(path, block_frames=20_000)
    samples = read_stream(stream, consume)
    assert len(passes) == 1  # the first pass raised StreamRestarted after 3 blocks; the second completed
    assert stream.info.backend == "ffmpeg" and stream.frames_read == clip.shape[0]
    assert stream.fallback_reason.startswith("libsndfile decoding failed at 1.4 s of 6.0 s")
    assert "malformed" in stream.fallback_reason
    np.testing.assert_array_equal(samples, lossless)  # FLAC is lossless: both decoders agree exactly
    audio = decode(path, block_frames=20_000)
    assert audio.info.backend == "ffmpeg" and "malformed" in audio.fallback_reason


def test_a_reader_that_ignores_the_restart_gets_a_clear_error(tmp_path, clip, monkeypatch):
    path = write(tmp_path / "a.flac", clip, format="FLAC", subtype="PCM_16")
    _fail_reads_after(monkeypatch, good_reads=1)
    stream = open_stream(path, block_frames=20_000)
    with pytest.raises(StreamRestarted, match="libsndfile decoding failed at 0.5 s .* FFmpeg reads it again"):
        list(stream)
    assert sum(block.shape[1] for block in stream) == clip.shape[0]  # iterating again reads it whole


def _overstated_opus(path: Path, duration_s: float, extra: int) -> Path:
    return overstate_ogg_opus_length(write_opus(path, duration_s), extra)


def test_decoded_length_tolerance_in_frames(tmp_path):
    """Documented: an exact header may overstate the decoded length by max(8192 frames, 1 %)."""
    # With the granule at the end of the packets the decoder keeps the encoder's end padding too.
    frames = decode(_overstated_opus(tmp_path / "plain.opus", 4.0, 0)).samples.shape[1]
    assert frames // 100 < 8192  # this clip is on the fixed-frames side of the rule
    audio = decode(_overstated_opus(tmp_path / "ok.opus", 4.0, 8192))
    assert (audio.info.frames, audio.samples.shape[1], audio.shortfall_frames) == (frames + 8192, frames, 8192)
    with pytest.raises(AudioDecodeError, match=r"cut\.opus: libsndfile decoded 4\.0 s of the 4\.2 s .*; truncated"):
        decode(_overstated_opus(tmp_path / "cut.opus", 4.0, 8193))


def test_decoded_length_tolerance_as_a_fraction(tmp_path):
    frames = decode(_overstated_opus(tmp_path / "plain.opus", 20.0, 0)).samples.shape[1]
    # The largest shortfall e with e <= 1 % of the declared frames + e, i.e. e <= frames / 99.
    most = frames // 99
    assert most > 8192  # this clip is on the percentage side of the rule
    assert decode(_overstated_opus(tmp_path / "ok.opus", 20.0, most)).shortfall_frames == most
    with pytest.raises(AudioDecodeError, match="truncated"):
        decode(_overstated_opus(tmp_path / "cut.opus", 20.0, most + 2))


def test_the_cheap_end_check_gives_the_full_decode_verdict(tmp_path, clip):
    """What a scanner calls for new files: the stream's verdict without decoding every file whole."""
    within = _overstated_opus(tmp_path / "ok.opus", 4.0, 8192)
    assert check_decodes_to_end(within).frames == decode(within).info.frames
    assert check_decodes_to_end(write(tmp_path / "a.flac", clip, format="FLAC")).backend == "libsndfile"
    for broken in (
        _overstated_opus(tmp_path / "short.opus", 4.0, 8193),
        truncate(write(tmp_path / "cut.flac", clip, format="FLAC")),
        truncate(write_opus(tmp_path / "cut.opus", 4.0)),
        truncate(write(tmp_path / "cut.wav", clip, subtype="PCM_16")),
    ):
        with pytest.raises(AudioDecodeError) as full:
            decode(broken)
        with pytest.raises(AudioDecodeError) as cheap:
            check_decodes_to_end(broken)
        assert cheap.value.reason == full.value.reason


def test_a_length_the_header_only_estimates_is_not_taken_for_truncation(tmp_path):
    """An MP3 without a Xing header that opens quietly: its length is guessed from the first frame."""
    samples = np.concatenate([np.zeros((2 * SR, 2), np.float32), stereo(music(10.0))])
    wav = write(tmp_path / "a.wav", samples, subtype="PCM_16")
    path = tmp_path / "noxing.mp3"
    _ffmpeg(wav, path, "-c:a", "libmp3lame", "-q:a", "2", "-write_xing", "0")
    audio = decode(path)
    assert audio.info.frames > 2 * samples.shape[0]  # the guess: silent frames are tiny, so "long"
    assert not audio.info.frames_exact and audio.shortfall_frames == 0
    # Without the header's gapless fields: encoder + decoder delay (1105) and end padding (< 1152) stay in.
    assert 0 <= audio.samples.shape[1] - samples.shape[0] < 1105 + 1152


def _ffmpeg(source: Path, target: Path, *options: str) -> Path:
    import subprocess

    import imageio_ffmpeg

    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(source)]
    subprocess.run([*command, *options, str(target)], check=True)
    return target
