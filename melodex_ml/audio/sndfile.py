"""The first decoder: libsndfile (WAV, AIFF, FLAC, Ogg Vorbis/Opus, MP3 ...), fast and exact for PCM.

Two kinds of failure are told apart. The file itself proves damage (a header that promises more
bytes than the file holds): that is final, `AudioDecodeError`.
libsndfile cannot open or finish a file it claims to support (its Opus reader rejects some valid
page layouts as "malformed"): that is `SndfileFailed`, and another decoder gets the file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf

from melodex_ml.audio.formats import AudioDecodeError, AudioInfo, header_facts

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
# libsndfile's log says "data : 3528000 (should be 1763978)" (WAV; "SSND" in AIFF) when the header
# promises more bytes than the file holds (a truncated download); it is the only place the
# mismatch is visible. Writers that stream (FFmpeg to a pipe) leave 0 or 0xFFFFFFFF there, meaning
# "unknown", not "truncated".
_SHORT_DATA = re.compile(r"\b(?:data|SSND)\s*:\s*(\d+)\s*\(should be (\d+)\)")
_UNKNOWN_SIZES = {0, 0xFFFFFFFF}
# libsndfile reports SF_COUNT_MAX frames when a stream's length is unknown.
_UNKNOWN_FRAMES = 1 << 62


class SndfileFailed(Exception):
    """libsndfile could not open or finish a file; `reason` says where and why."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


def probe(path: Path, size: int) -> AudioInfo | None:
    """The file's format as libsndfile reads it, or None where libsndfile does not know it."""
    try:
        info = sf.info(os.fsencode(path))  # bytes: names that are not valid UTF-8 open too
    except Exception:  # libsndfile raises for formats it does not know
        return None
    if not 0 < info.frames < _UNKNOWN_FRAMES or info.samplerate <= 0:
        return None  # let the other decoder count the frames
    duration = info.frames / info.samplerate
    codec, bits = _PCM.get(info.subtype, (None, None))
    if info.format == "FLAC":
        codec, bits = "flac", None
    codec = codec or _COMPRESSED.get(info.subtype, info.subtype.lower())
    if bits:
        bit_rate, exact = info.samplerate * info.channels * bits / 1000, True
    else:
        facts = header_facts(path)
        bit_rate = facts.bit_rate_kbps or size * 8 / duration / 1000
        exact = not facts.length_is_estimate
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
        frames_exact=exact,
    )


def _open(info: AudioInfo) -> sf.SoundFile:
    """An open handle, after the checks that prove a truncated file (AudioDecodeError)."""
    try:
        handle = sf.SoundFile(os.fsencode(info.path))
    except Exception as exc:
        raise SndfileFailed(f"could not open the file: {exc}") from exc
    match = _SHORT_DATA.search(handle.extra_info)
    declared, present = (int(g) for g in match.groups()) if match else (0, 0)
    if declared > present and declared not in _UNKNOWN_SIZES:
        handle.close()
        raise AudioDecodeError(
            info.path, f"truncated: the header declares {declared} bytes of audio but the file holds {present}"
        )
    return handle


def read_blocks(info: AudioInfo, block_frames: int) -> Iterator[np.ndarray]:
    """float32 (channels, frames) blocks; raises AudioDecodeError for proven damage, SndfileFailed otherwise."""
    with _open(info) as handle:
        done = 0
        while True:
            try:
                block = handle.read(block_frames, dtype="float32", always_2d=True)
            except Exception as exc:
                at = done / info.sample_rate
                raise SndfileFailed(f"decoding failed at {at:.1f} s of {info.duration_s:.1f} s: {exc}") from exc
            if not len(block):
                return
            done += len(block)
            yield np.ascontiguousarray(block.T)


def decodes_up_to(info: AudioInfo, frame: int) -> bool:
    """Whether libsndfile, seeking close to ``frame``, decodes audio there (no full decode).

    False when it cannot tell (seek or read fails, or reads nothing); AudioDecodeError where the
    file proves its own truncation.
    """
    try:
        handle = _open(info)
    except SndfileFailed:
        return False
    with handle:
        try:
            handle.seek(max(0, frame - 1))
            return len(handle.read(1, dtype="float32")) == 1
        except Exception:  # libsndfile's seek and read raise several types
            return False
