"""Synthetic test signals with known tempo, key and level (imported by the other feature tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

SR = 44_100
# Scale degrees (semitones above the tonic) of i-iv-V-i in minor and I-IV-V-I in major.
_PROGRESSION = {
    "minor": ((0, 3, 7), (5, 8, 12), (7, 11, 14), (0, 3, 7)),
    "major": ((0, 4, 7), (5, 9, 12), (7, 11, 14), (0, 4, 7)),
}


def music(
    duration_s: float = 20.0,
    *,
    bpm: float = 120.0,
    tonic_midi: int = 57,  # A3
    mode: str = "minor",
    sr: int = SR,
    a4_hz: float = 440.0,
    seed: int = 0,
) -> np.ndarray:
    """Kick on every beat, noise hat on the off-beats and a chord progression, one chord per bar.

    Returns float32 mono samples peaking near -6 dBFS.
    """
    rng = np.random.default_rng(seed)
    n = int(round(duration_s * sr))
    out = np.zeros(n, np.float64)
    beat = 60.0 / bpm
    for k in range(int(duration_s / beat) + 1):
        start = int(k * beat * sr)
        length = min(int(0.15 * sr), n - start)
        if length > 0:
            t = np.arange(length) / sr
            out[start : start + length] += 0.8 * np.sin(2 * np.pi * (55 + 90 * np.exp(-t * 30)) * t) * np.exp(-t * 18)
        off = int((k + 0.5) * beat * sr)
        length = min(int(0.04 * sr), n - off)
        if length > 0:
            out[off : off + length] += 0.15 * rng.standard_normal(length) * np.exp(-np.arange(length) / sr * 90)
    bar = 4 * beat
    chords = _PROGRESSION[mode]
    for b in range(int(np.ceil(duration_s / bar))):
        start = int(b * bar * sr)
        length = min(int(bar * sr), n - start)
        t = np.arange(length) / sr
        for degree in chords[b % len(chords)]:
            f0 = a4_hz * 2 ** ((tonic_midi + degree - 69) / 12)
            for h in range(1, 5):
                out[start : start + length] += 0.07 / h * np.sin(2 * np.pi * f0 * h * t) * np.exp(-t * 0.4)
    out *= 0.5 / np.abs(out).max()
    return out.astype(np.float32)


def stereo(mono: np.ndarray) -> np.ndarray:
    """(n, 2) with a slightly quieter right channel."""
    return np.stack([mono, 0.9 * mono], axis=1)


def write(path: Path, samples: np.ndarray, sr: int = SR, subtype: str | None = None, **kwargs) -> Path:
    sf.write(str(path), samples, sr, subtype=subtype, **kwargs)
    return path


def truncate(path: Path, keep: float = 0.5) -> Path:
    """Cut the file's bytes at ``keep`` of its size, as an interrupted copy would."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path
