"""The second decoder: FFmpeg's libraries through PyAV, in this process, block by block.

It reads every format FFmpeg knows (m4a/AAC/ALAC, WMA, Opus, Vorbis, MP3, FLAC, AIFF, WAV ...)
and takes over whole files that libsndfile cannot open or finish. Frames are converted to
float32 planar at the rate and channel count the probe declared, so a consumer sees the same
(channels, frames) blocks whichever decoder produced them. PyAV is imported on first use:
a library of WAV and FLAC files never loads it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from melodex_ml.audio.formats import AudioDecodeError, AudioInfo, header_facts

# Demuxers that have no length field and estimate the duration from the file size and bit rate.
_ESTIMATED_LENGTH = {"aac", "ac3", "eac3", "dts", "mp3", "mp2"}


@contextmanager
def _open(path: Path):
    import av

    # A Python file object: names that are not valid UTF-8 open too (FFmpeg takes UTF-8 strings).
    with open(os.fsencode(path), "rb") as raw, av.open(raw, metadata_errors="ignore") as container:
        yield container


def probe(path: Path, size: int) -> AudioInfo:
    """The file's first audio stream as FFmpeg reads it; raises AudioDecodeError if there is none."""
    import av

    try:
        with _open(path) as container:
            if not container.streams.audio:
                raise AudioDecodeError(path, "no audio stream in the file")
            stream = container.streams.audio[0]
            context = stream.codec_context
            rate, channels = int(stream.sample_rate or 0), int(context.layout.nb_channels)
            if stream.duration is not None and stream.time_base is not None:
                duration = float(stream.duration * stream.time_base)
            else:
                duration = container.duration / av.time_base if container.duration else 0.0
            fmt = container.format
            codec = context.codec.canonical_name
            bit_rate = stream.bit_rate or container.bit_rate
    except AudioDecodeError:
        raise
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise AudioDecodeError(path, f"FFmpeg could not open the file: {_reason(exc)}") from exc
    if not rate or not channels:
        raise AudioDecodeError(path, "no sample rate or channel count in the audio stream")
    frames = round(duration * rate)
    if fmt.name == "ogg" and codec == "opus":
        # FFmpeg's Ogg demuxer counts the Opus pre-skip in the duration; the decoder drops it (RFC 7845 4.2).
        frames -= context.delay
    if frames <= 0:
        raise AudioDecodeError(path, "no audio frames")
    estimate = fmt.name in _ESTIMATED_LENGTH and (fmt.name != "mp3" or header_facts(path).length_is_estimate)
    suffix = path.suffix.lower().lstrip(".")
    return AudioInfo(
        path=path,
        sample_rate=rate,
        channels=channels,
        frames=frames,
        duration_s=frames / rate,
        codec=codec,
        container=suffix if suffix in fmt.extensions else fmt.name,
        bit_rate_kbps=bit_rate / 1000 if bit_rate else size * 8 / (frames / rate) / 1000,
        backend="ffmpeg",
        frames_exact=not estimate,
    )


def read_blocks(info: AudioInfo, block_frames: int) -> Iterator[np.ndarray]:
    """float32 (channels, frames) blocks of ``block_frames`` (the last one shorter); AudioDecodeError on failure."""
    import av

    pending: list[np.ndarray] = []
    held = done = 0

    def fail(what: str, exc: Exception) -> AudioDecodeError:
        at = (done + held) / info.sample_rate
        return AudioDecodeError(info.path, f"FFmpeg {what} at {at:.1f} s of {info.duration_s:.1f} s: {_reason(exc)}")

    try:
        with _open(info.path) as container:
            stream = container.streams.audio[0]
            layout = stream.codec_context.layout
            # Same rate and layout as probed: a pass-through normally; it converts a decoder that
            # reports otherwise (HE-AAC parametric stereo, a mono stream in a stereo header).
            layout = layout if layout.nb_channels == info.channels else info.channels
            resampler = av.AudioResampler(format="fltp", layout=layout, rate=info.sample_rate)
            frames = container.decode(stream)
            while True:
                try:
                    frame = next(frames, None)
                    converted = resampler.resample(frame)  # None flushes what the converter holds
                except av.FFmpegError as exc:
                    raise fail("decoding failed", exc) from exc
                except ValueError as exc:  # the stream changed rate or layout part-way
                    raise fail("stream changed format", exc) from exc
                for out in converted:
                    pending.append(out.to_ndarray())
                    held += out.samples
                while held >= block_frames or (frame is None and held):
                    block, pending, held = _take(pending, held, block_frames)
                    done += block.shape[1]
                    yield block
                if frame is None:
                    return
    except (av.FFmpegError, OSError) as exc:  # opening the file again failed
        raise AudioDecodeError(info.path, f"FFmpeg could not open the file: {_reason(exc)}") from exc


def _reason(exc: Exception) -> str:
    """FFmpeg's own words ("Invalid data found when processing input"), without PyAV's call and file name."""
    return getattr(exc, "strerror", None) or str(exc)


def _take(pending: list[np.ndarray], held: int, block_frames: int) -> tuple[np.ndarray, list[np.ndarray], int]:
    """The first ``block_frames`` frames of the queued chunks, and what is left over."""
    joined = pending[0] if len(pending) == 1 else np.concatenate(pending, axis=1)
    block = np.ascontiguousarray(joined[:, :block_frames], dtype=np.float32)
    rest = joined[:, block_frames:]
    return block, ([rest] if rest.shape[1] else []), held - block.shape[1]
