"""Audio of labelled tracks, cut into segments and turned into model inputs as it is read.

Segments follow the rule of the descriptor extractor (:mod:`melodex_ml.features.segments`):
``segment_seconds`` pieces from the start, the remainder joining the last piece when it is
shorter than half a segment, so audio-model segments line up with ``segment_features`` rows.
Each track is decoded once, mixed to mono, resampled with soxr and handed segment by segment
to ``prepare`` (an MFCC front end, a waveform check): only prepared inputs are kept, so memory
grows with the inputs, not the audio. A file that cannot be read becomes a Failure; the rest go on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soxr

from melodex_ml.audio.decode import decode
from melodex_ml.bookkeeping import Failure

log = logging.getLogger(__name__)
STAGE = "models"


@dataclass
class PreparedSegments:
    track_ids: np.ndarray  # (n_segments,) str
    segment_index: np.ndarray  # (n_segments,) int
    start_s: np.ndarray
    end_s: np.ndarray
    inputs: list[np.ndarray]  # one model input per segment
    sample_rate: int
    failures: list[Failure] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.track_ids)

    def tracks(self) -> set[str]:
        return set(self.track_ids.tolist())

    def rows_of(self, track_ids) -> list[int]:
        wanted = set(track_ids)
        return [i for i, t in enumerate(self.track_ids.tolist()) if t in wanted]


def segment_bounds(n_samples: int, sample_rate: int, segment_seconds: float) -> list[tuple[int, int]]:
    """[start, stop) sample ranges of a signal's segments (a short remainder joins the last one)."""
    length = max(1, round(segment_seconds * sample_rate))
    full, remainder = divmod(n_samples, length)
    if full == 0:
        return [(0, n_samples)] if n_samples else []
    bounds = [(i * length, (i + 1) * length) for i in range(full)]
    if remainder and remainder < length // 2:
        bounds[-1] = (bounds[-1][0], n_samples)
    elif remainder:
        bounds.append((full * length, n_samples))
    return bounds


def load_mono(path: Path | str, sample_rate: int) -> np.ndarray:
    """A file as mono float32 at ``sample_rate``."""
    decoded = decode(path)
    return to_mono(decoded.samples, decoded.sample_rate, sample_rate)


def to_mono(samples: np.ndarray, rate: int, sample_rate: int) -> np.ndarray:
    """(channels, n) samples at ``rate`` mixed to mono float32 and resampled to ``sample_rate``."""
    mono = samples.mean(axis=0).astype(np.float32)
    if rate != sample_rate:
        mono = soxr.resample(mono, rate, sample_rate, quality="HQ").astype(np.float32)
    return mono


def prepare_tracks(
    tracks: Mapping[str, Path | str],
    prepare: Callable[[np.ndarray], np.ndarray],
    *,
    sample_rate: int,
    segment_seconds: float = 30.0,
    load: Callable[[Path | str, int], np.ndarray] = load_mono,
) -> PreparedSegments:
    """Model inputs of every segment of every track (sorted by track id, then time)."""
    track_ids, index, starts, ends, inputs, failures = [], [], [], [], [], []
    for track_id in sorted(tracks):
        path = tracks[track_id]
        try:
            audio = load(path, sample_rate)
            bounds = segment_bounds(len(audio), sample_rate, segment_seconds)
            if not bounds:
                raise ValueError("the file decodes to no samples")
            prepared = [prepare(audio[lo:hi]) for lo, hi in bounds]
        except Exception as exc:  # one bad file is recorded; the batch goes on
            log.warning("cannot prepare %s (%s): %s", track_id, path, exc)
            failures.append(Failure.from_exception(STAGE, track_id, exc, path))
            continue
        for i, ((lo, hi), item) in enumerate(zip(bounds, prepared, strict=True)):
            track_ids.append(track_id)
            index.append(i)
            starts.append(lo / sample_rate)
            ends.append(hi / sample_rate)
            inputs.append(item)
    return PreparedSegments(
        np.asarray(track_ids, dtype=str), np.asarray(index, dtype=np.int64), np.asarray(starts), np.asarray(ends),
        inputs, sample_rate, failures,
    )  # fmt: skip
