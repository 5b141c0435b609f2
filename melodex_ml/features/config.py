"""What the feature extractor computes and how: one frozen, picklable config per process."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from melodex_ml.audio.decode import BLOCK_FRAMES
from melodex_ml.settings import MelodexSettings

# Bumped whenever a descriptor's definition changes, so stored rows can be recomputed selectively.
EXTRACTOR_VERSION = "features-1"

# Heads users expect; any of them missing from the models folder is reported as unavailable.
# A name matches every model file whose stem starts with it ("genre" matches genre_discogs400-...).
EXPECTED_HEADS = (
    "danceability",
    "tonal_atonal",
    "voice_instrumental",
    "mood_acoustic",
    "mood_aggressive",
    "mood_electronic",
    "mood_happy",
    "mood_party",
    "mood_relaxed",
    "mood_sad",
    "genre",
)


@dataclass(frozen=True)
class ExtractorConfig:
    segment_seconds: float = 30.0
    # Spectral, tonal and rhythm descriptors share one STFT at this rate (librosa's defaults).
    analysis_rate: int = 22050
    n_fft: int = 2048
    hop_length: int = 512
    n_mels: int = 128
    n_mfcc: int = 20
    # Frames whose RMS is below this level (dBFS) are left out of timbre and tonal statistics:
    # a silent intro would otherwise drag every spectral mean towards zero.
    silence_db: float = -70.0
    models_dir: Path | None = None
    expected_heads: tuple[str, ...] = EXPECTED_HEADS
    # Threads each process may use for BLAS/OpenMP/TensorFlow; None = cores / workers.
    threads: int | None = None
    block_frames: int = BLOCK_FRAMES
    # Where numba keeps librosa's compiled functions between runs (the state folder's numba/);
    # None leaves numba's default, the __pycache__ beside librosa's sources where writable.
    jit_cache_dir: Path | None = None
    version: str = field(default=EXTRACTOR_VERSION)

    def __post_init__(self) -> None:
        if self.segment_seconds * self.analysis_rate < 4 * self.n_fft:
            raise ValueError("segment_seconds is too short for the STFT")

    @classmethod
    def from_settings(cls, settings: MelodexSettings, **overrides: object) -> ExtractorConfig:
        values: dict[str, object] = {
            "segment_seconds": settings.segment_seconds,
            "models_dir": settings.essentia_models_dir,
            "jit_cache_dir": settings.home_dir / "numba",
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

    @property
    def segment_frames(self) -> int:
        """Segment length in STFT hops: segment edges fall on the frame grid, so no frame is split."""
        return max(1, round(self.segment_seconds * self.analysis_rate / self.hop_length))


def default_threads(workers: int) -> int:
    return max(1, (os.cpu_count() or 1) // max(1, workers))
