"""Every frame-wise spectral descriptor from one STFT of the mono analysis signal.

The STFT is computed once per segment (with the context of its neighbours, so frames are
the ones a single STFT of the whole file would give) and the magnitude, power and log-mel
spectrograms derived from it feed centroid, bandwidth, roll-off, flatness, contrast, MFCC,
chroma, tuning and the onset envelope the rhythm descriptors use.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import librosa
import numpy as np
import scipy.sparse

from melodex_ml.features.config import ExtractorConfig

_AMIN = 1e-10  # power floor for dB: -100 dB, well below any real signal
_ROLL_PERCENT = 0.85


@dataclass
class Frames:
    """One column per STFT frame (frame k is centred on sample k * hop of the analysis signal)."""

    rms_db: np.ndarray  # (n,) frame RMS, dBFS
    zero_crossing_rate: np.ndarray  # (n,)
    centroid: np.ndarray  # (n,) Hz
    bandwidth: np.ndarray  # (n,) Hz
    rolloff: np.ndarray  # (n,) Hz
    flatness: np.ndarray  # (n,)
    contrast: np.ndarray  # (7, n) dB
    mfcc: np.ndarray  # (n_mfcc, n)
    chroma: np.ndarray  # (12, n), C..B, each frame max-normalised
    onset: np.ndarray  # (n,) spectral flux of the log-mel spectrogram (dB per band)

    @property
    def count(self) -> int:
        return self.rms_db.shape[-1]

    def __getitem__(self, span: slice | np.ndarray) -> Frames:
        return Frames(*(getattr(self, f.name)[..., span] for f in fields(self)))

    @classmethod
    def concat(cls, parts: list[Frames]) -> Frames:
        return cls(*(np.concatenate([getattr(p, f.name) for p in parts], axis=-1) for f in fields(cls)))


@dataclass
class SpectralFrames:
    frames: Frames
    pitch_hz: np.ndarray  # salient spectral peaks (librosa.piptrack), for tuning estimation
    last_mel_db: np.ndarray  # carried to the next segment so the onset flux has no seam


class SpectralAnalyzer:
    def __init__(self, config: ExtractorConfig):
        self.sr = config.analysis_rate
        self.n_fft = config.n_fft
        self.hop = config.hop_length
        self.n_mfcc = config.n_mfcc
        # Mel filters touch a few FFT bins each: a sparse product is ~10x cheaper than librosa's dense one.
        self.mel_basis = scipy.sparse.csr_matrix(
            librosa.filters.mel(sr=self.sr, n_fft=self.n_fft, n_mels=config.n_mels)
        )
        self.freqs = librosa.fft_frequencies(sr=self.sr, n_fft=self.n_fft).astype(np.float32)
        self.window_sum_sq = float(np.sum(np.hanning(self.n_fft + 1)[:-1] ** 2))

    @property
    def context(self) -> int:
        """Samples needed on each side of a segment so its first and last frames are complete."""
        return self.n_fft // 2

    def analyze(self, padded: np.ndarray, n_frames: int, previous_mel_db: np.ndarray | None) -> SpectralFrames:
        """Frames centred on ``context + k * hop`` of ``padded`` for k < n_frames."""
        needed = (n_frames - 1) * self.hop + self.n_fft
        if padded.size < needed:
            padded = np.pad(padded, (0, needed - padded.size))
        padded = np.ascontiguousarray(padded[:needed], dtype=np.float32)
        # C order: librosa returns frames-major (Fortran) arrays, on which the sparse mel product
        # and the per-bin reductions below are several times slower.
        stft = librosa.stft(padded, n_fft=self.n_fft, hop_length=self.hop, center=False)
        spectrum = np.ascontiguousarray(np.abs(stft))
        power = spectrum * spectrum
        mel_db = librosa.power_to_db(self.mel_basis @ power, amin=_AMIN, top_db=None)
        centroid, bandwidth, rolloff = self._moments(spectrum)
        pitch_hz = self._salient_pitches(spectrum)
        frames = Frames(
            rms_db=self._rms_db(padded, n_frames),
            zero_crossing_rate=self._zero_crossing_rate(padded, n_frames),
            centroid=centroid,
            bandwidth=bandwidth,
            rolloff=rolloff,
            flatness=librosa.feature.spectral_flatness(S=spectrum)[0],
            contrast=librosa.feature.spectral_contrast(S=spectrum, sr=self.sr, n_fft=self.n_fft),
            mfcc=librosa.feature.mfcc(S=mel_db, n_mfcc=self.n_mfcc),
            chroma=librosa.feature.chroma_stft(
                S=power, sr=self.sr, n_fft=self.n_fft, tuning=self.tuning(pitch_hz)
            ),
            onset=self._onset(mel_db, previous_mel_db),
        )
        return SpectralFrames(frames, pitch_hz, mel_db[:, -1].copy())

    def _moments(self, spectrum: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Centroid, bandwidth (p=2) and 85 % roll-off exactly as librosa.feature.spectral_* define
        them, computed together because each librosa call re-normalises the whole spectrogram."""
        total = spectrum.sum(axis=0)
        safe = np.where(total > 0, total, 1.0)
        centroid = (self.freqs @ spectrum) / safe
        second = ((self.freqs * self.freqs) @ spectrum) / safe
        bandwidth = np.sqrt(np.maximum(second - centroid * centroid, 0.0))
        cumulative = np.cumsum(spectrum, axis=0)
        above = cumulative >= _ROLL_PERCENT * cumulative[-1]
        rolloff = self.freqs[np.argmax(above, axis=0)]
        silent = total <= 0
        for values in (centroid, bandwidth, rolloff):
            values[silent] = np.nan
        return centroid, bandwidth, rolloff

    def _rms_db(self, padded: np.ndarray, n_frames: int) -> np.ndarray:
        energy = np.concatenate([[0.0], np.cumsum(padded.astype(np.float64) ** 2)])
        starts = np.arange(n_frames) * self.hop
        mean_square = (energy[starts + self.n_fft] - energy[starts]) / self.n_fft
        return (10.0 * np.log10(np.maximum(mean_square, _AMIN))).astype(np.float32)

    def _zero_crossing_rate(self, padded: np.ndarray, n_frames: int) -> np.ndarray:
        """librosa's zero-crossing rate over the STFT frames, from one pass over the samples."""
        crossings = np.concatenate([[0], np.cumsum(librosa.zero_crossings(padded, pad=False)[1:])])
        starts = np.arange(n_frames) * self.hop
        # A frame of n samples has n - 1 neighbour pairs; librosa divides by n, and so do we.
        return ((crossings[starts + self.n_fft - 1] - crossings[starts]) / self.n_fft).astype(np.float32)

    def _salient_pitches(self, spectrum: np.ndarray) -> np.ndarray:
        """Peaks librosa.estimate_tuning would use, from every eighth frame (tuning hardly moves)."""
        pitch, magnitude = librosa.piptrack(S=spectrum[:, ::8], sr=self.sr, n_fft=self.n_fft)
        voiced = pitch > 0
        if not voiced.any():
            return np.zeros(0, np.float32)
        return pitch[voiced & (magnitude >= np.median(magnitude[voiced]))].astype(np.float32)

    @staticmethod
    def tuning(pitch_hz: np.ndarray) -> float:
        """Deviation from A440 in fractions of a semitone (librosa.pitch_tuning); 0 without peaks."""
        return float(librosa.pitch_tuning(pitch_hz)) if pitch_hz.size else 0.0

    @staticmethod
    def _onset(mel_db: np.ndarray, previous: np.ndarray | None) -> np.ndarray:
        reference = mel_db[:, :1] if previous is None else previous[:, None]
        flux = np.diff(np.concatenate([reference, mel_db], axis=1), axis=1)
        return np.maximum(flux, 0.0).mean(axis=0)
