"""Decode audio files into float32 blocks: libsndfile where it can, Essentia's ffmpeg loader otherwise.

Every consumer reads a file through one `AudioStream`, so a file is decoded once however many
descriptors it feeds, and a two-hour mix never has to sit in memory whole. Damage is reported,
not smoothed over: a decoder that stops early, a header that promises more audio than the file
holds, or NaN/Inf samples are either an `AudioDecodeError` naming the file and the reason, or
(NaN/Inf, by default) replaced by silence and counted so the caller can record it.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import soundfile as sf

log = logging.getLogger(__name__)

BLOCK_FRAMES = 1 << 18  # ~6 s at 44.1 kHz: large enough to amortise calls, small enough to bound memory
NonFinite = Literal["zero", "error"]

# libsndfile subtype -> (codec name, bits per sample) for uncompressed PCM.
_PCM = {
    "PCM_S8": ("pcm_s8", 8),
    "PCM_U8": ("pcm_u8", 8),
    "PCM_16": ("pcm_s16", 16),
    "PCM_24": ("pcm_s24", 24),
    "PCM_32": ("pcm_s32", 32),
    "FLOAT": ("pcm_f32", 32),
    "DOUBLE": ("pcm_f64", 64),
    "ULAW": ("pcm_mulaw", 8),
    "ALAW": ("pcm_alaw", 8),
}
_COMPRESSED = {"VORBIS": "vorbis", "OPUS": "opus", "MPEG_LAYER_III": "mp3", "MPEG_LAYER_II": "mp2"}
# libsndfile's log says "data : 3528000 (should be 1763978)" when the header promises more bytes
# than the file holds (a truncated download); it is the only place the mismatch is visible.
_SHORT_DATA = re.compile(r"data\s*:\s*(\d+)\s*\(should be (\d+)\)")
_OGG_CUT = "Last page lacks an end-of-stream bit"  # an Ogg stream cut off mid-way


class AudioDecodeError(Exception):
    """A file that cannot be decoded (completely); the message names the file and the reason."""

    def __init__(self, path: Path | str, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")

    def __reduce__(self):  # keep (path, reason) when the error crosses a process boundary
        return type(self), (self.path, self.reason)


@dataclass(frozen=True)
class AudioInfo:
    path: Path
    sample_rate: int
    channels: int
    frames: int  # as declared by the container; the decoder may deliver a few more or fewer
    duration_s: float
    codec: str  # pcm_s16, pcm_f32, flac, mp3, vorbis, opus, aac ...
    container: str  # wav, flac, mp3, ogg, m4a ...
    bit_rate_kbps: float | None  # exact for PCM, from the stream header or file size / duration otherwise
    backend: str  # "libsndfile" or "ffmpeg" (Essentia's AudioLoader)


@dataclass
class DecodedAudio:
    samples: np.ndarray  # float32, (channels, frames)
    info: AudioInfo
    nonfinite_samples: int = 0  # NaN/Inf samples that were replaced by 0

    @property
    def sample_rate(self) -> int:
        return self.info.sample_rate

    @property
    def duration_s(self) -> float:
        return self.samples.shape[1] / self.info.sample_rate


def probe(path: Path | str) -> AudioInfo:
    """Read a file's format without decoding it."""
    path = Path(path)
    if not path.is_file():
        raise AudioDecodeError(path, "file not found" if not path.exists() else "not a regular file")
    size = path.stat().st_size
    if size == 0:
        raise AudioDecodeError(path, "empty file (0 bytes)")
    try:
        info = sf.info(os.fsencode(path))  # bytes: names that are not valid UTF-8 open too
    except Exception as sndfile_error:  # libsndfile raises for formats it does not know
        return _probe_with_mutagen(path, size, sndfile_error)
    if info.frames <= 0 or info.samplerate <= 0:
        raise AudioDecodeError(path, "no audio frames")
    duration = info.frames / info.samplerate
    codec, bits = _PCM.get(info.subtype, (None, None))
    if info.format == "FLAC":
        codec, bits = "flac", None
    codec = codec or _COMPRESSED.get(info.subtype, info.subtype.lower())
    bit_rate = info.samplerate * info.channels * bits / 1000 if bits else _compressed_bit_rate(path, size, duration)
    return AudioInfo(
        path=path,
        sample_rate=int(info.samplerate),
        channels=int(info.channels),
        frames=int(info.frames),
        duration_s=duration,
        codec=codec,
        container=info.format.lower(),
        bit_rate_kbps=bit_rate,
        backend="libsndfile",
    )


def _compressed_bit_rate(path: Path, size: int, duration: float) -> float | None:
    import mutagen

    try:
        tagged = mutagen.File(str(path))
        if tagged is not None and getattr(tagged.info, "bitrate", 0):
            return tagged.info.bitrate / 1000
    except Exception:  # a tag parser failing must not fail decoding
        log.debug("mutagen could not read %s", path, exc_info=True)
    return size * 8 / duration / 1000 if duration > 0 else None


def _probe_with_mutagen(path: Path, size: int, sndfile_error: Exception) -> AudioInfo:
    import mutagen

    try:
        tagged = mutagen.File(str(path))
    except Exception as exc:
        tagged, sndfile_error = None, f"{sndfile_error}; mutagen: {exc}"
    stream = getattr(tagged, "info", None)
    rate, channels, length = (getattr(stream, name, 0) or 0 for name in ("sample_rate", "channels", "length"))
    if not rate or not channels:
        raise AudioDecodeError(path, f"not a recognised audio file ({sndfile_error})")
    if length <= 0:
        raise AudioDecodeError(path, "no audio frames")
    codec = getattr(stream, "codec", None) or getattr(stream, "codec_name", None) or type(tagged).__name__
    bitrate = getattr(stream, "bitrate", 0)
    return AudioInfo(
        path=path,
        sample_rate=int(rate),
        channels=int(channels),
        frames=round(length * rate),
        duration_s=float(length),
        codec=_ffmpeg_codec_name(str(codec)),
        container=path.suffix.lower().lstrip(".") or "unknown",
        bit_rate_kbps=bitrate / 1000 if bitrate else size * 8 / length / 1000,
        backend="ffmpeg",
    )


def _ffmpeg_codec_name(codec: str) -> str:
    codec = codec.lower()
    if codec.startswith("mp4a"):
        return "aac"
    return {"oggopus": "opus", "oggvorbis": "vorbis", "windows media audio 9 standard": "wma"}.get(codec, codec)


class AudioStream:
    """One pass over a file as float32 blocks shaped (channels, frames).

    Counters (`frames_read`, `nonfinite_samples`) are final once iteration ends; iteration raises
    `AudioDecodeError` when the decoder fails or stops well short of what the file declares.
    """

    def __init__(self, path: Path | str, *, block_frames: int = BLOCK_FRAMES, nonfinite: NonFinite = "zero"):
        self.info = probe(path)
        self.block_frames = block_frames
        self.nonfinite = nonfinite
        self.frames_read = 0
        self.nonfinite_samples = 0

    @property
    def path(self) -> Path:
        return self.info.path

    def __iter__(self) -> Iterator[np.ndarray]:
        blocks = _sndfile_blocks if self.info.backend == "libsndfile" else _ffmpeg_blocks
        for block in blocks(self.info, self.block_frames, self):
            self._clean(block)
            self.frames_read += block.shape[1]
            yield block
        self._check_complete()

    def _clean(self, block: np.ndarray) -> None:
        finite = np.isfinite(block)
        if finite.all():
            return
        bad = int(block.size - np.count_nonzero(finite))
        if self.nonfinite == "error":
            at = self.frames_read / self.info.sample_rate
            raise AudioDecodeError(self.path, f"{bad} NaN/Inf samples in the block starting at {at:.1f} s")
        block[~finite] = 0.0
        self.nonfinite_samples += bad

    def _check_complete(self) -> None:
        if self.frames_read == 0:
            raise AudioDecodeError(self.path, "no audio frames")
        declared, rate = self.info.frames, self.info.sample_rate
        # PCM and FLAC headers count frames exactly; lossy streams declare an estimate (a VBR MP3
        # without a Xing header is guessed from its first frame), so they get more slack.
        exact = self.info.codec.startswith("pcm") or self.info.codec == "flac"
        if declared - self.frames_read > max(rate, (0.02 if exact else 0.1) * declared):
            raise AudioDecodeError(
                self.path,
                f"decoder stopped at {self.frames_read / rate:.1f} s of the {declared / rate:.1f} s "
                "the file declares (truncated or corrupt)",
            )


def _sndfile_blocks(info: AudioInfo, block_frames: int, stream: AudioStream) -> Iterator[np.ndarray]:
    try:
        handle = sf.SoundFile(os.fsencode(info.path))
    except Exception as exc:
        raise AudioDecodeError(info.path, f"libsndfile could not open the file: {exc}") from exc
    with handle:
        if match := _SHORT_DATA.search(handle.extra_info):
            declared, present = (int(g) for g in match.groups())
            raise AudioDecodeError(
                info.path,
                f"truncated: the header declares {declared} bytes of audio but the file holds {present}",
            )
        if _OGG_CUT in handle.extra_info:
            raise AudioDecodeError(info.path, "truncated: the Ogg stream ends without its end-of-stream page")
        while True:
            try:
                block = handle.read(block_frames, dtype="float32", always_2d=True)
            except Exception as exc:
                at = stream.frames_read / info.sample_rate
                raise AudioDecodeError(
                    info.path, f"decoding failed at {at:.1f} s of {info.duration_s:.1f} s: {exc}"
                ) from exc
            if not len(block):
                return
            yield np.ascontiguousarray(block.T)


def _ffmpeg_blocks(info: AudioInfo, block_frames: int, stream: AudioStream) -> Iterator[np.ndarray]:
    """Transcode through Essentia's streaming AudioLoader into a temporary WAV, then read it in blocks.

    Essentia's standard-mode loaders return the whole file at once; its streaming network keeps
    memory bounded, and a temporary PCM file is the simplest sink that can be read back in blocks.
    """
    with tempfile.TemporaryDirectory(prefix="melodex-decode-") as tmp:
        wav = Path(tmp) / "decoded.wav"
        # Essentia takes the name as a UTF-8 std::string: a plain-named link reaches any file.
        source = Path(tmp) / f"source{info.path.suffix.encode('ascii', 'ignore').decode()}"
        os.symlink(os.path.abspath(info.path), source)
        source_channels = _transcode_to_wav(info, source, wav)
        with sf.SoundFile(str(wav)) as handle:
            while True:
                block = handle.read(block_frames, dtype="float32", always_2d=True)
                if not len(block):
                    return
                # AudioLoader always emits stereo; a mono source comes back as two equal channels.
                yield np.ascontiguousarray(block[:, :source_channels].T)


def _transcode_to_wav(info: AudioInfo, source: Path, wav: Path) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import essentia
    import essentia.streaming as streaming

    essentia.log.infoActive = False
    essentia.log.warningActive = False
    try:
        loader = streaming.AudioLoader(filename=str(source))
        writer = streaming.AudioWriter(filename=str(wav), format="wav", sampleRate=info.sample_rate)
        pool = essentia.Pool()
        loader.audio >> writer.audio
        loader.sampleRate >> (pool, "sample_rate")
        loader.numberChannels >> (pool, "channels")
        for unused in (loader.md5, loader.bit_rate, loader.codec):
            unused >> None
        essentia.run(loader)
    except Exception as exc:
        raise AudioDecodeError(info.path, f"ffmpeg (Essentia AudioLoader) could not decode the file: {exc}") from exc
    decoded_rate = _pool_int(pool, "sample_rate", info.sample_rate)
    if decoded_rate != info.sample_rate:
        raise AudioDecodeError(
            info.path, f"container says {info.sample_rate} Hz but the decoder produced {decoded_rate} Hz"
        )
    return _pool_int(pool, "channels", 2)


def _pool_int(pool, key: str, default: int) -> int:
    return int(np.ravel(pool[key])[0]) if pool.containsKey(key) else default


def open_stream(path: Path | str, *, block_frames: int = BLOCK_FRAMES, nonfinite: NonFinite = "zero") -> AudioStream:
    """Probe ``path`` and return a one-pass block reader over it."""
    return AudioStream(path, block_frames=block_frames, nonfinite=nonfinite)


def decode(path: Path | str, *, nonfinite: NonFinite = "zero", block_frames: int = BLOCK_FRAMES) -> DecodedAudio:
    """The whole file as float32 (channels, frames); prefer `open_stream` for long files."""
    stream = open_stream(path, block_frames=block_frames, nonfinite=nonfinite)
    blocks = list(stream)
    return DecodedAudio(np.concatenate(blocks, axis=1), stream.info, stream.nonfinite_samples)
