"""Decode audio files into float32 blocks: libsndfile where it can, FFmpeg (PyAV) for the rest.

Every consumer reads a file through one `AudioStream`, so a file is decoded once however many
descriptors it feeds, and a two-hour mix never has to sit in memory whole.

Two decoders, one verdict. libsndfile reads first; when it does not know the format, cannot
open the file, fails part-way (its Opus reader calls some valid page layouts "malformed") or
stops well short of the declared length, FFmpeg decodes the *whole* file again from the start, so the samples a consumer sees all come
from one decoder (`AudioInfo.backend` says which, `AudioStream.fallback_reason` why). Only a file
both reject is an `AudioDecodeError`.

Lenient about length, strict about truncation. Decoders legitimately end a little before the
length a header declares (encoder priming and padding, end trimming); a shortfall within
`allowed_shortfall` is accepted and reported (`AudioStream.shortfall_frames`) so the caller can
record it. Beyond it the file is truncated and fails, naming the file, how far decoding got
and what each decoder said. NaN/Inf samples are replaced by silence and counted (or, with
``nonfinite="error"``, fail).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

import numpy as np

from melodex_ml.audio import ffmpeg, sndfile
from melodex_ml.audio.formats import AudioDecodeError, AudioInfo, ogg_stream_ends

BLOCK_FRAMES = 1 << 18  # ~6 s at 44.1 kHz: large enough to amortise calls, small enough to bound memory
NonFinite = Literal["zero", "error"]
T = TypeVar("T")

# A decoder may end this much before a header's exact length without the file counting as truncated.
# Frames: the longest block a codec pads or trims at either end is a Vorbis long window (8192);
# the others are shorter (Opus 120 ms = 5760 + 312 pre-skip, AAC 2112 priming + 1024, MP3 1105 +
# 1152, WMA's last 2048-sample frame, which FFmpeg drops). Fraction: a decoder that skips a few
# damaged packets in a long file and resyncs loses them; 1 % of a 4-minute track is 2.4 s, while
# a copy cut off at a random point ends in its last 1 % one time in a hundred (and is then
# analysed with the shortfall recorded).
# Lossless codecs have no padding to trim: their decoders deliver exactly the declared frames.
SHORTFALL_MIN_FRAMES = 8192
SHORTFALL_PERCENT = 1
LOSSLESS_CODECS = ("pcm", "flac", "alac", "wavpack", "ape", "tta")


def allowed_shortfall(declared_frames: int, codec: str = "") -> int:
    """Frames a decoder may deliver fewer than an exact header declares before the file is truncated."""
    if codec.startswith(LOSSLESS_CODECS):
        return 0
    return max(SHORTFALL_MIN_FRAMES, declared_frames * SHORTFALL_PERCENT // 100)


class StreamRestarted(AudioDecodeError):
    """libsndfile failed part-way and FFmpeg took the file over: read the stream again from the start.

    `read_stream` handles it; a consumer iterating by hand that does not, records a failure that
    says why.
    """


@dataclass
class DecodedAudio:
    samples: np.ndarray  # float32, (channels, frames)
    info: AudioInfo
    nonfinite_samples: int = 0  # NaN/Inf samples that were replaced by 0
    shortfall_frames: int = 0  # frames fewer than the header declares, within allowed_shortfall
    fallback_reason: str | None = None  # why libsndfile handed the file to FFmpeg

    @property
    def sample_rate(self) -> int:
        return self.info.sample_rate

    @property
    def duration_s(self) -> float:
        return self.samples.shape[1] / self.info.sample_rate


def probe(path: Path | str) -> AudioInfo:
    """Read a file's format without decoding it: libsndfile's view, or FFmpeg's where libsndfile has none."""
    path = Path(path)
    if not path.is_file():
        raise AudioDecodeError(path, "file not found" if not path.exists() else "not a regular file")
    size = path.stat().st_size
    if size == 0:
        raise AudioDecodeError(path, "empty file (0 bytes)")
    info = sndfile.probe(path, size)
    if info is None:
        try:
            info = ffmpeg.probe(path, size)
        except AudioDecodeError as exc:
            if exc.reason.startswith("FFmpeg could not open"):
                raise AudioDecodeError(path, f"not a recognised audio file ({exc.reason})") from exc
            raise
    if info.container == "ogg" and not ogg_stream_ends(path):
        raise AudioDecodeError(path, "truncated: the Ogg stream ends without its end-of-stream page")
    return info


class AudioStream:
    """One pass over a file as float32 blocks shaped (channels, frames).

    Counters (`frames_read`, `nonfinite_samples`, `shortfall_frames`) are final once iteration
    ends; iteration raises `AudioDecodeError` when both decoders fail or the file is truncated,
    and `StreamRestarted` once if FFmpeg took over part-way (see `read_stream`).
    """

    def __init__(self, path: Path | str, *, block_frames: int = BLOCK_FRAMES, nonfinite: NonFinite = "zero"):
        self.info = probe(path)
        self.block_frames = block_frames
        self.nonfinite = nonfinite
        self.frames_read = 0
        self.nonfinite_samples = 0
        self.fallback_reason: str | None = None

    @property
    def path(self) -> Path:
        return self.info.path

    @property
    def shortfall_frames(self) -> int:
        """Frames fewer than an exact header declares (0 when the length is only an estimate)."""
        return max(0, self.info.frames - self.frames_read) if self.info.frames_exact else 0

    def __iter__(self) -> Iterator[np.ndarray]:
        self.frames_read = self.nonfinite_samples = 0
        if self.info.backend == "libsndfile":
            try:
                yield from self._counted(sndfile.read_blocks(self.info, self.block_frames))
                if stopped := self._incomplete():  # a decoder that stops early may be wrong: ask the other
                    raise sndfile.SndfileFailed(stopped)
            except sndfile.SndfileFailed as failure:
                self._hand_to_ffmpeg(failure.reason)
                if self.frames_read:  # the consumer has seen part of the file: it must start over
                    raise StreamRestarted(self.path, f"libsndfile {failure.reason}; FFmpeg reads it again") from None
            else:
                return
        try:
            yield from self._counted(ffmpeg.read_blocks(self.info, self.block_frames))
        except AudioDecodeError as exc:
            raise self._both_failed(exc.reason) from exc
        if stopped := self._incomplete():
            raise self._both_failed(f"truncated: FFmpeg {stopped}" if self.frames_read else "no audio frames")

    def _counted(self, blocks: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
        for block in blocks:
            self._clean(block)
            self.frames_read += block.shape[1]
            yield block

    def _hand_to_ffmpeg(self, sndfile_reason: str) -> None:
        self.fallback_reason = f"libsndfile {sndfile_reason}"
        try:
            self.info = ffmpeg.probe(self.path, self.path.stat().st_size)
        except AudioDecodeError as exc:
            raise self._both_failed(exc.reason) from exc

    def _both_failed(self, ffmpeg_reason: str) -> AudioDecodeError:
        if self.fallback_reason is None:
            return AudioDecodeError(self.path, ffmpeg_reason)
        return AudioDecodeError(self.path, f"{self.fallback_reason}; {ffmpeg_reason}")

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

    def _incomplete(self) -> str | None:
        """How decoding fell short of the declared length beyond the tolerance; None if it did not."""
        if self.frames_read == 0:
            return "decoded no audio frames"
        declared, rate = self.info.frames, self.info.sample_rate
        if self.shortfall_frames <= allowed_shortfall(declared, self.info.codec):
            return None
        return f"decoded {self.frames_read / rate:.1f} s of the {declared / rate:.1f} s the file declares"


def check_decodes_to_end(path: Path | str) -> AudioInfo:
    """Confirm, cheaply where possible, that a file's audio decodes to its declared end.

    The same verdict as a full `AudioStream` pass (AudioDecodeError for a truncated file or one
    both decoders reject; a shortfall within `allowed_shortfall` is fine), for a scanner that must
    not decode every new file: libsndfile seeks to the last frame that must decode and reads it.
    Where it cannot (a format it does not read, a length that is only an estimate, its Opus
    reader rejecting the file), the whole file is decoded, FFmpeg taking over as in the stream.
    """
    info = probe(path)
    if info.backend == "libsndfile" and info.frames_exact:
        if sndfile.decodes_up_to(info, info.frames - allowed_shortfall(info.frames, info.codec)):
            return info
    stream = open_stream(path)
    read_stream(stream, lambda s: sum(block.shape[1] for block in s))
    return stream.info


def read_stream(stream: AudioStream, read: Callable[[AudioStream], T]) -> T:
    """``read(stream)``, run once more from the start if FFmpeg took the file over part-way."""
    try:
        return read(stream)
    except StreamRestarted:
        return read(stream)


def open_stream(path: Path | str, *, block_frames: int = BLOCK_FRAMES, nonfinite: NonFinite = "zero") -> AudioStream:
    """Probe ``path`` and return a one-pass block reader over it."""
    return AudioStream(path, block_frames=block_frames, nonfinite=nonfinite)


def decode(path: Path | str, *, nonfinite: NonFinite = "zero", block_frames: int = BLOCK_FRAMES) -> DecodedAudio:
    """The whole file as float32 (channels, frames); prefer `open_stream` for long files."""
    stream = open_stream(path, block_frames=block_frames, nonfinite=nonfinite)
    samples = read_stream(stream, lambda s: np.concatenate(list(s), axis=1))
    return DecodedAudio(samples, stream.info, stream.nonfinite_samples, stream.shortfall_frames, stream.fallback_reason)
