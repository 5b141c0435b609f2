"""Tempo, beats, onsets and danceability from the onset envelope of the shared STFT.

librosa's beat tracker (Ellis' dynamic programme) runs on the spectral-flux envelope of the
whole track, so beats are consistent across segment edges; its tempo prior comes from the
onset autocorrelation, accumulated segment by segment.
The reported tempo is refined from the tracked beats, which resolves far finer than the
autocorrelation's lag grid (±2 % at 120 BPM). Essentia's RhythmExtractor2013 was measured at
~1 s per minute of audio here, ten times our whole per-track budget.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import librosa
import numpy as np

from melodex_ml.features.jit import librosa_beat

# Ignore inter-beat intervals this far from the median: they are missed or doubled beats.
_IBI_TOLERANCE = 0.1
_MIN_INTERVALS = 3
MAX_LAG = 384  # onset frames: 8.9 s at 22.05 kHz / 512, periods down to 6.7 BPM


@dataclass(frozen=True)
class OnsetPeriodicity:
    """Autocorrelation of the mean-removed onset envelope, kept as sums so spans can be added.

    Segments are analysed one at a time; adding their sums gives the track's autocorrelation
    without holding a track-long tempogram (librosa's is lags x frames: gigabytes for a DJ mix).
    """

    sums: np.ndarray  # sum over t of x[t] * x[t + lag]
    counts: np.ndarray  # number of products in each sum

    @classmethod
    def of(cls, onset: np.ndarray, max_lag: int = MAX_LAG) -> OnsetPeriodicity:
        centred = onset.astype(np.float64) - (onset.mean() if onset.size else 0.0)
        sums = np.zeros(max_lag)
        if centred.size:
            ac = librosa.autocorrelate(centred, max_size=min(max_lag, centred.size))
            sums[: ac.size] = ac
        counts = np.maximum(centred.size - np.arange(max_lag), 0).astype(np.float64)
        return cls(sums, counts)

    def __add__(self, other: OnsetPeriodicity) -> OnsetPeriodicity:
        return OnsetPeriodicity(self.sums + other.sums, self.counts + other.counts)

    def normalized(self) -> np.ndarray:
        """Unbiased autocorrelation divided by its lag-0 value: 1 at lag 0, in [-1, 1] elsewhere."""
        mean = np.divide(self.sums, self.counts, out=np.zeros_like(self.sums), where=self.counts > 0)
        return mean / mean[0] if mean[0] > 0 else np.zeros_like(mean)


def prior_tempo(periodicity: OnsetPeriodicity, sr: int, hop: int) -> float | None:
    """librosa's tempo estimate (log-normal prior around 120 BPM) on the onset autocorrelation."""
    ac = np.clip(periodicity.normalized(), 0.0, None)
    if not np.any(ac[1:] > 0):
        return None
    return float(librosa.feature.tempo(tg=ac[:, None], sr=sr, hop_length=hop, aggregate=None)[0])


def track_beats(onset: np.ndarray, bpm: float | None, sr: int, hop: int) -> np.ndarray:
    """Beat positions (seconds) over the whole envelope; empty without a pulse."""
    if bpm is None or not np.any(onset > 0):
        return np.zeros(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # librosa warns on empty envelopes; emptiness is our signal
        _, beats = librosa_beat().beat_track(onset_envelope=onset, sr=sr, hop_length=hop, bpm=bpm, units="time")
    return np.asarray(beats, dtype=np.float64)


def track_onsets(onset: np.ndarray, sr: int, hop: int) -> np.ndarray:
    """Onset times (seconds), peak-picked on the whole envelope."""
    if not np.any(onset > 0):
        return np.zeros(0)
    return librosa.onset.onset_detect(onset_envelope=onset, sr=sr, hop_length=hop, units="time")


def tempo_from_beats(beats: np.ndarray) -> float | None:
    """Tempo (BPM) as the mean of the regular inter-beat intervals; None with fewer than 3 of them."""
    intervals = np.diff(beats)
    if intervals.size < _MIN_INTERVALS:
        return None
    median = np.median(intervals)
    regular = intervals[np.abs(intervals / median - 1.0) <= _IBI_TOLERANCE]
    if regular.size < _MIN_INTERVALS:
        return None
    return float(60.0 / regular.mean())


def pulse_clarity(periodicity: OnsetPeriodicity, bpm: float | None, sr: int, hop: int) -> float | None:
    """Tempo confidence: the normalised onset autocorrelation at the beat period, clipped to [0, 1].

    1 means the onset envelope repeats exactly every beat; noise and rubato pull it towards 0.
    """
    if bpm is None:
        return None
    ac = periodicity.normalized()
    lag = 60.0 / bpm * sr / hop
    if lag >= ac.size - 1 or periodicity.counts[math.ceil(lag)] <= 0:
        return None
    return float(np.clip(np.interp(lag, np.arange(ac.size), ac), 0.0, 1.0))


def danceability(signal: np.ndarray, sample_rate: int) -> float | None:
    """Essentia's Danceability (detrended fluctuation analysis); needs a few seconds of audio."""
    import essentia.standard as es

    if signal.size < 2 * sample_rate:
        return None
    value, _ = es.Danceability(sampleRate=sample_rate)(np.ascontiguousarray(signal, np.float32))
    return float(value)
