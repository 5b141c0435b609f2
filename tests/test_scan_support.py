"""Tiny, valid audio files for the scan and tag tests (no test functions here).

soundfile writes WAV, AIFF, FLAC, Ogg Vorbis, Opus and MP3. Nothing installed here encodes
AAC, so :func:`write_m4a` assembles a minimal MP4 (ftyp + moov with one AAC sound track + mdat)
byte by byte; mutagen reads and retags it like any iTunes file. Its mdat holds random bytes,
which is enough for the scanner: it parses containers, it does not decode AAC.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import soundfile as sf

_SOUNDFILE_FORMATS = {
    ".wav": ("WAV", "PCM_16"),
    ".aiff": ("AIFF", "PCM_16"),
    ".flac": ("FLAC", "PCM_16"),
    ".ogg": ("OGG", "VORBIS"),
    ".opus": ("OGG", "OPUS"),
    ".mp3": ("MP3", "MPEG_LAYER_III"),
}


def noise(seed: int, seconds: float = 0.25, sample_rate: int = 8000) -> np.ndarray:
    """Seeded noise: a different seed is different audio."""
    return (0.2 * np.random.default_rng(seed).standard_normal(int(seconds * sample_rate))).astype("float32")


def write_audio(path: Path, seed: int = 0, seconds: float = 0.25) -> Path:
    """A valid file of the format its suffix names (.m4a included)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".m4a":
        return write_m4a(path, seed, seconds)
    fmt, subtype = _SOUNDFILE_FORMATS[path.suffix]
    sample_rate = 48_000 if path.suffix == ".opus" else 8000
    sf.write(path, noise(seed, seconds, sample_rate), sample_rate, format=fmt, subtype=subtype)
    return path


def _box(kind: bytes, *payload: bytes) -> bytes:
    body = b"".join(payload)
    return struct.pack(">I4s", 8 + len(body), kind) + body


def write_m4a(path: Path, seed: int = 0, seconds: float = 0.25, sample_rate: int = 44_100) -> Path:
    timescale, channels = sample_rate, 2
    duration = int(seconds * timescale)
    full = b"\x00\x00\x00\x00"  # version 0, no flags
    mvhd = _box(b"mvhd", full, struct.pack(">IIII", 0, 0, timescale, duration), b"\x00" * 80)
    mdhd = _box(b"mdhd", full, struct.pack(">IIIIHH", 0, 0, timescale, duration, 0x55C4, 0))
    hdlr = _box(b"hdlr", full, struct.pack(">I4s12s", 0, b"soun", b""), b"SoundHandler\x00")
    # ES descriptor: decoder config says AAC LC (object type 0x40, audio stream), 128 kbps.
    decoder_config = bytes([0x04, 17, 0x40, 0x15]) + struct.pack(">3sII", b"\x00\x00\x00", 128_000, 128_000)
    decoder_config += bytes([0x05, 2, 0x12, 0x10])  # AudioSpecificConfig: AAC LC, 44.1 kHz, stereo
    es = bytes([0x03, 3 + len(decoder_config) + 3]) + struct.pack(">HB", 1, 0) + decoder_config + bytes([0x06, 1, 2])
    mp4a = _box(
        b"mp4a",
        b"\x00" * 6,
        struct.pack(">H", 1),  # data reference index
        b"\x00" * 8,
        struct.pack(">HHHHI", channels, 16, 0, 0, sample_rate << 16),
        _box(b"esds", full, es),
    )
    stbl = _box(
        b"stbl",
        _box(b"stsd", full, struct.pack(">I", 1), mp4a),
        _box(b"stts", full, struct.pack(">I", 0)),
        _box(b"stsc", full, struct.pack(">I", 0)),
        _box(b"stsz", full, struct.pack(">II", 0, 0)),
    )
    trak = _box(b"trak", _box(b"mdia", mdhd, hdlr, _box(b"minf", stbl)))
    payload = np.random.default_rng(seed).bytes(2048)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        _box(b"ftyp", b"M4A ", struct.pack(">I", 0), b"M4A isomiso2")
        + _box(b"moov", mvhd, trak)
        + _box(b"mdat", payload)
    )
    return path
