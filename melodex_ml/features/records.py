"""Typed results of feature extraction and their rows in the store (sql/ddl/020_features.sql).

A track and each of its segments are described by the same `Descriptors`; `FeatureResult.rows`
flattens them into the columns of `features`, `segment_features` and `head_predictions`.
A value that cannot be measured honestly (the tempo of silence, the loudness of 0.3 s) is None,
never a made-up number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path

import numpy as np

from melodex_ml.audio.decode import AudioInfo

FEATURES_TABLE = "features"
SEGMENTS_TABLE = "segment_features"
HEADS_TABLE = "head_predictions"


def finite(value: float | np.floating | None) -> float | None:
    """A float for the store, or None for NaN, ±Inf and missing values."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class Distribution:
    """Summary of a frame-wise descriptor over a span (non-silent frames only)."""

    mean: float | None = None
    std: float | None = None
    p10: float | None = None
    p50: float | None = None
    p90: float | None = None

    @classmethod
    def of(cls, values: np.ndarray) -> Distribution:
        if values.size == 0:
            return cls()
        p10, p50, p90 = np.percentile(values, [10, 50, 90])
        return cls(*(finite(v) for v in (values.mean(), values.std(), p10, p50, p90)))


@dataclass(frozen=True)
class Levels:
    """Loudness and level, measured on the raw samples at the file's own rate."""

    integrated_lufs: float | None = None  # EBU R128 / ITU-R BS.1770-4, gated
    loudness_range_lu: float | None = None  # EBU Tech 3342
    peak_dbfs: float | None = None  # sample peak; > 0 for float files that exceed full scale
    clipped_ratio: float | None = None  # share of samples at or beyond full scale
    dc_offset: float | None = None  # largest per-channel mean, in full-scale units
    rms_dbfs: float | None = None  # RMS of the mono analysis signal over the span
    rms_db: Distribution = Distribution()  # frame RMS (2048-sample frames) in dBFS
    dynamic_complexity: float | None = None  # Essentia DynamicComplexity, dB


@dataclass(frozen=True)
class Rhythm:
    tempo_bpm: float | None = None
    tempo_confidence: float | None = None  # pulse clarity in [0, 1], see sql/features.md
    beat_count: int = 0
    onset_rate: float | None = None  # onsets per second
    danceability_dfa: float | None = None  # Essentia Danceability (DFA), roughly 0..3


@dataclass(frozen=True)
class Tonality:
    key: str | None = None  # C, C#, D ... B (sharps)
    key_pitch_class: int | None = None  # 0 = C ... 11 = B
    mode: str | None = None  # major | minor
    key_strength: float | None = None  # Essentia Key correlation with the key profile
    tuning_hz: float | None = None  # frequency of A4
    chroma: tuple[float, ...] | None = None  # 12 bins C..B, mean of max-normalised frames


@dataclass(frozen=True)
class Timbre:
    spectral_centroid_hz: Distribution = Distribution()
    spectral_bandwidth_hz: Distribution = Distribution()
    spectral_rolloff_hz: Distribution = Distribution()  # 85 % of spectral energy below
    spectral_flatness: Distribution = Distribution()
    zero_crossing_rate: Distribution = Distribution()
    spectral_contrast_db: tuple[float, ...] | None = None  # 7 values: 6 octave bands + residual
    mfcc_mean: tuple[float, ...] | None = None  # 20 coefficients of the log-mel spectrum
    mfcc_std: tuple[float, ...] | None = None


@dataclass(frozen=True)
class Descriptors:
    levels: Levels = Levels()
    rhythm: Rhythm = Rhythm()
    tonality: Tonality = Tonality()
    timbre: Timbre = Timbre()

    def columns(self) -> dict[str, object]:
        return _flatten(self)


@dataclass(frozen=True)
class Segment:
    index: int
    start_s: float
    end_s: float
    descriptors: Descriptors


@dataclass(frozen=True)
class HeadPrediction:
    """Mean activation of one class of one head over a span (segment, or the track when None)."""

    head: str  # task, e.g. mood_happy
    model: str  # model file stem, e.g. mood_happy-discogs-effnet-1
    segment_index: int | None
    label: str
    probability: float


@dataclass(frozen=True)
class Issue:
    """Something about the input that users should know; the track was still analysed."""

    code: str  # silent | clipping | dc_offset | nonfinite_samples | low_sample_rate | ...
    message: str


@dataclass(frozen=True)
class FeatureResult:
    info: AudioInfo
    duration_s: float  # decoded duration
    track: Descriptors
    segments: tuple[Segment, ...]
    heads: tuple[HeadPrediction, ...] = ()
    heads_unavailable: tuple[str, ...] = ()
    issues: tuple[Issue, ...] = ()
    nonfinite_samples: int = 0
    extractor_version: str = ""

    def rows(self, track_id: str) -> dict[str, list[dict]]:
        """Rows per table, ready for `store.replace_rows(con, table, "track_id", [track_id], rows)`."""
        info = self.info
        track_row = {
            "track_id": track_id,
            "path": str(info.path),
            "extractor_version": self.extractor_version,
            "duration_s": self.duration_s,
            "sample_rate": info.sample_rate,
            "channels": info.channels,
            "codec": info.codec,
            "container": info.container,
            "bit_rate_kbps": finite(info.bit_rate_kbps),
            "decoder": info.backend,
            "segment_count": len(self.segments),
            **self.track.columns(),
            "nonfinite_samples": self.nonfinite_samples,
            "issues": [issue.code for issue in self.issues],
            "heads_unavailable": list(self.heads_unavailable),
        }
        segment_rows = [
            {
                "track_id": track_id,
                "segment_index": s.index,
                "start_s": s.start_s,
                "end_s": s.end_s,
                **s.descriptors.columns(),
            }
            for s in self.segments
        ]
        head_rows = [{"track_id": track_id, **_flatten(p)} for p in self.heads]
        return {FEATURES_TABLE: [track_row], SEGMENTS_TABLE: segment_rows, HEADS_TABLE: head_rows}


@dataclass(frozen=True)
class FeatureFailure:
    """A track that could not be analysed; stored in the shared `failures` table."""

    track_id: str
    path: str
    error_type: str
    message: str
    stage: str = field(default="features")

    @classmethod
    def from_exception(cls, track_id: str, path: Path | str, exc: BaseException) -> FeatureFailure:
        return cls(track_id, str(path), type(exc).__name__, str(exc) or repr(exc))

    def as_failure(self):
        """The project-wide failure record (melodex_ml.bookkeeping.Failure)."""
        from melodex_ml.bookkeeping import Failure

        return Failure(self.stage, self.track_id, self.error_type, self.message, self.path)


def _flatten(obj: object, prefix: str = "") -> dict[str, object]:
    """Groups flatten without a prefix; a Distribution becomes <name>_mean, <name>_std, ..."""
    out: dict[str, object] = {}
    for f in fields(obj):  # type: ignore[arg-type]
        value = getattr(obj, f.name)
        if isinstance(value, Distribution):
            out.update(_flatten(value, prefix=f"{f.name}_"))
        elif is_dataclass(value):
            out.update(_flatten(value))
        elif isinstance(value, tuple):
            out[prefix + f.name] = [finite(v) for v in value]
        elif isinstance(value, float):
            out[prefix + f.name] = finite(value)
        else:
            out[prefix + f.name] = value
    return out
