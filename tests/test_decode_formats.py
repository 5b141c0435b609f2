"""Real files in every common format, encoded from one known signal by the FFmpeg imageio-ffmpeg ships.

The signal is `music()`: a kick on every beat at 120 BPM and an i-iv-V-i progression in A minor.
Each format must decode with the decoder the docs name, to the clip's length within codec
padding, and give the same tempo, key and loudness as the WAV. The two Opus files from the
issue are rebuilt here: one whose header declares 64 frames more than its packets hold, and one
that libsndfile's Opus reader gives up on part-way.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
import soundfile as sf
from test_decode import overstate_ogg_opus_length
from test_features_signals import SR, music, stereo, truncate, write

from melodex_ml.audio import AudioDecodeError, check_decodes_to_end, decode, sndfile
from melodex_ml.features import ExtractorConfig, FeatureResult
from melodex_ml.features.batch import shared_extractor

CLIP_S = 12.0
# suffix -> (FFmpeg encoder options, decoder that reads it first, lossless)
FORMATS = {
    "wav": (["-c:a", "pcm_s16le"], "libsndfile", True),
    "aiff": (["-c:a", "pcm_s16be"], "libsndfile", True),
    "flac": (["-c:a", "flac"], "libsndfile", True),
    "mp3": (["-c:a", "libmp3lame", "-b:a", "192k"], "libsndfile", False),
    "m4a": (["-c:a", "aac", "-b:a", "192k"], "ffmpeg", False),
    "alac.m4a": (["-c:a", "alac"], "ffmpeg", True),
    "opus": (["-c:a", "libopus", "-b:a", "128k"], "libsndfile", False),
    "ogg": (["-c:a", "libvorbis", "-q:a", "5"], "libsndfile", False),
    "wma": (["-c:a", "wmav2", "-b:a", "192k"], "ffmpeg", False),
}
# Codec padding at 44.1 kHz: AAC adds up to one 1024-sample frame at the end; FFmpeg's WMA decoder
# drops its first 2048-sample frame and adds the encoder's end padding. Nothing here is longer.
PADDING_S = 2048 / SR
# Tempo: within 2 BPM (1.7 %) of 120 and of the WAV's, stricter than the 4 % MIREX accepts. The
# WMA decode starts 46 ms (two STFT hops) late, which moves the beat tracker by about 1 BPM.
TEMPO_BPM = 2.0
# Loudness: the lossy encoders low-pass the noise hat (LAME at 192 kbit/s cuts near 19 kHz, where
# K-weighting counts most), which lowers integrated loudness by up to ~0.3 LU here.
LOUDNESS_LU = 0.5


def ffmpeg(source: Path, target: Path, *options: str) -> Path:
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(source)]
    subprocess.run([*command, *options, str(target)], check=True)
    return target


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    return write(tmp_path_factory.mktemp("source") / "source.wav", stereo(music(CLIP_S)), subtype="PCM_16")


@pytest.fixture(scope="module")
def encoded(source, tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("formats")
    return {suffix: ffmpeg(source, folder / f"track.{suffix}", *opts) for suffix, (opts, _, _) in FORMATS.items()}


@pytest.fixture(scope="module")
def extractor():
    return shared_extractor(ExtractorConfig())


@pytest.fixture(scope="module")
def reference(encoded, extractor) -> FeatureResult:
    return extractor.extract(encoded["wav"])


@pytest.mark.parametrize("suffix", FORMATS)
def test_every_format_decodes_with_its_decoder_to_the_clip_length(encoded, source, suffix):
    _, backend, lossless = FORMATS[suffix]
    audio = decode(encoded[suffix])
    assert audio.info.backend == backend and audio.fallback_reason is None
    assert audio.info.channels == 2 and audio.sample_rate == (48_000 if suffix == "opus" else SR)
    assert abs(audio.duration_s - CLIP_S) <= PADDING_S
    assert audio.shortfall_frames <= 2048
    if lossless:  # the PCM 16 source, bit for bit
        np.testing.assert_array_equal(audio.samples, decode(source).samples)


def _assert_agrees(result: FeatureResult, reference: FeatureResult) -> None:
    track, ref = result.track, reference.track
    assert abs(track.rhythm.tempo_bpm - 120.0) <= TEMPO_BPM
    assert abs(track.rhythm.tempo_bpm - ref.rhythm.tempo_bpm) <= TEMPO_BPM
    assert (track.tonality.key, track.tonality.mode) == ("A", "minor")
    assert abs(track.levels.integrated_lufs - ref.levels.integrated_lufs) <= LOUDNESS_LU
    assert abs(result.duration_s - CLIP_S) <= PADDING_S


@pytest.mark.parametrize("suffix", FORMATS)
def test_descriptors_agree_across_formats(encoded, extractor, reference, suffix):
    result = extractor.extract(encoded[suffix])
    _assert_agrees(result, reference)
    assert {issue.code for issue in result.issues} <= {"decoded_short"}  # WMA: its dropped last frame


@pytest.mark.parametrize("suffix", [s for s, (_, backend, _) in FORMATS.items() if backend == "libsndfile"])
def test_ffmpeg_alone_gives_the_same_descriptors(encoded, extractor, reference, suffix, monkeypatch):
    """The second decoder reads every format on its own, with the same results."""
    monkeypatch.setattr(sndfile, "probe", lambda path, size: None)
    result = extractor.extract(encoded[suffix])
    assert result.info.backend == "ffmpeg"
    _assert_agrees(result, reference)


def test_opus_whose_decoder_stops_64_frames_short_of_its_header_is_analysed(encoded, extractor, reference, tmp_path):
    path = overstate_ogg_opus_length(shutil.copy(encoded["opus"], tmp_path / "short.opus"), 64)
    # What libsndfile itself does with it: a header 64 frames longer than the audio it decodes.
    declared = sf.info(str(path)).frames
    assert declared - sf.read(str(path))[0].shape[0] == 64
    result = extractor.extract(path)
    assert result.info.backend == "libsndfile" and result.info.frames == declared
    (issue,) = [issue for issue in result.issues if issue.code == "decoded_short"]
    assert issue.message.startswith("decoding ended 64 frames (1.3 ms) before")
    _assert_agrees(result, reference)
    assert result.rows("t")["features"][0]["issues"] == ["decoded_short"]
    assert check_decodes_to_end(path).frames == declared  # what a scanner checks: accepted too


@pytest.fixture(scope="module")
def long_source(tmp_path_factory) -> Path:
    return write(tmp_path_factory.mktemp("long") / "long.wav", stereo(music(60.0)), subtype="PCM_16")


@pytest.fixture(scope="module")
def long_opus(long_source, tmp_path_factory) -> Path:
    # libopus at 256 kbit/s with 2 s Ogg pages: packets continue across pages, and libsndfile's
    # reader then rejects a page's granule position as "malformed" near the end.
    target = tmp_path_factory.mktemp("long") / "long.opus"
    return ffmpeg(long_source, target, "-c:a", "libopus", "-b:a", "256k", "-page_duration", "2000000")


def test_opus_that_libsndfile_fails_on_part_way_is_decoded_by_ffmpeg(long_source, long_opus, extractor):
    path = long_opus
    with sf.SoundFile(str(path)) as handle:  # the premise: libsndfile opens it, then gives up part-way
        read = 0
        with pytest.raises(sf.LibsndfileError, match="malformed"):
            while block := len(handle.read(1 << 16)):
                read += block
        assert 0 < read < handle.frames
    result = extractor.extract(path)
    assert result.info.backend == "ffmpeg" and result.rows("t")["features"][0]["decoder"] == "ffmpeg"
    (issue,) = [issue for issue in result.issues if issue.code == "decoder_fallback"]
    assert issue.message.startswith("libsndfile decoding failed at") and "malformed" in issue.message
    assert result.duration_s == pytest.approx(60.0, abs=PADDING_S)
    wav = extractor.extract(long_source)
    assert abs(result.track.rhythm.tempo_bpm - wav.track.rhythm.tempo_bpm) <= TEMPO_BPM
    assert (result.track.tonality.key, result.track.tonality.mode) == ("A", "minor")
    assert abs(result.track.levels.integrated_lufs - wav.track.levels.integrated_lufs) <= LOUDNESS_LU
    assert check_decodes_to_end(path).backend == "ffmpeg"  # what a scanner checks: accepted too


def test_musicnn_starts_over_when_ffmpeg_takes_a_file_over_part_way(long_source, long_opus):
    """The tagger streams patches as it decodes: a restart replaces the first pass, it is not a failure."""
    from melodex_ml.embeddings.musicnn.tagger import MusicnnConfig, MusicnnTagger

    tagger = MusicnnTagger.load(("msd-musicnn",), config=MusicnnConfig(models=("msd-musicnn",)))
    batch = tagger.analyse_tracks([("opus", long_opus), ("wav", long_source)])
    assert not batch.failures
    opus, wav = sorted(batch.results, key=lambda r: r.key)
    assert opus.n_patches == wav.n_patches
    correlation = np.corrcoef(opus.outputs["msd-musicnn"].tags, wav.outputs["msd-musicnn"].tags)[0, 1]
    assert correlation > 0.99


@pytest.mark.parametrize(
    ("suffix", "reason"),
    [
        ("opus", r"truncated: the Ogg stream ends without its end-of-stream page"),
        ("ogg", r"truncated: the Ogg stream ends without its end-of-stream page"),
        ("mp3", r"libsndfile decoded 6\.\d s of .*; truncated: FFmpeg decoded 6\.\d s of the 12\.0 s"),
        ("aiff", r"truncated: the header declares 2116808 bytes of audio but the file holds 10\d{5}"),
        ("wav", r"truncated: the header declares 2116800 bytes of audio but the file holds 10\d{5}"),
        ("flac", r"libsndfile decoding failed at .*; FFmpeg decoding failed at [56]\.\d s of 12\.0 s"),
        ("wma", r"FFmpeg decod(ing failed at|ed) [56]\.\d s"),  # the last packet cut, or cleanly gone
        # moov at the end (FFmpeg's default): the half that is left has no index to decode by
        ("m4a", r"not a recognised audio file \(FFmpeg could not open the file: Invalid data"),
    ],
)
def test_a_file_cut_in_half_fails_with_a_clear_reason(encoded, tmp_path, suffix, reason):
    path = truncate(shutil.copy(encoded[suffix], tmp_path / f"cut.{suffix}"))
    with pytest.raises(AudioDecodeError, match=reason) as caught:
        decode(path)
    assert caught.value.path == path


def test_an_m4a_with_its_index_first_cut_in_half_fails(source, tmp_path):
    path = truncate(ffmpeg(source, tmp_path / "cut.m4a", "-c:a", "aac", "-movflags", "+faststart"))
    with pytest.raises(AudioDecodeError, match=r"FFmpeg decoding failed at [56]\.\d s of 12\.0 s"):
        decode(path)


@pytest.mark.parametrize("fmt", ["wav", "aiff"])
def test_a_file_streamed_through_a_pipe_is_not_taken_for_truncated(source, tmp_path, fmt):
    """FFmpeg writing to a pipe cannot seek back to fill in the sizes: 0xFFFFFFFF (WAV) or 0 (AIFF)."""
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-i", str(source)]
    streamed = subprocess.run([*command, "-f", fmt, "pipe:1"], check=True, capture_output=True).stdout
    path = tmp_path / f"streamed.{fmt}"
    path.write_bytes(streamed)
    np.testing.assert_array_equal(decode(path).samples, decode(source).samples)
