"""Key, mode and tuning from the chroma of the shared STFT."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KEY_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_PITCH_CLASS = {name: i for i, name in enumerate(KEY_NAMES)} | {
    "Db": 1, "Eb": 3, "Gb": 6, "Ab": 8, "Bb": 10,
}  # fmt: skip
# Essentia's pitch-class profiles start at A; librosa's chroma starts at C.
_A_FIRST = -_PITCH_CLASS["A"]
# Temperley's 2005 corpus profiles, matched against the chroma as it is (no added harmonics or
# chord templates: STFT chroma already holds the harmonics), named the key and mode of 93 of 100
# synthetic demo tracks; the other Essentia profiles scored 51-90.
KEY_PROFILE = "temperley2005"


@dataclass(frozen=True)
class Key:
    pitch_class: int  # 0 = C
    mode: str  # major | minor
    strength: float

    @property
    def name(self) -> str:
        return KEY_NAMES[self.pitch_class]


def pitch_class(name: str) -> int:
    return _PITCH_CLASS[name]


def estimate_key(chroma_mean: np.ndarray, profile: str = KEY_PROFILE) -> Key | None:
    """Essentia's Key on a mean chroma vector (C..B); None when the chroma is empty."""
    import essentia.standard as es

    if chroma_mean is None or not np.isfinite(chroma_mean).all() or chroma_mean.max() <= 0:
        return None
    pcp = np.roll(np.asarray(chroma_mean, np.float32), _A_FIRST)
    key = es.Key(profileType=profile, pcpSize=12, usePolyphony=False, useThreeChords=False)
    name, scale, strength, _ = key(pcp)
    return Key(pitch_class(name), scale, float(strength))


def tuning_hz(tuning_semitones: float) -> float:
    """Frequency of A4 for a deviation from A440 given in fractions of a semitone."""
    return 440.0 * 2.0 ** (tuning_semitones / 12.0)
