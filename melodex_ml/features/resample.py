"""Streaming sample-rate conversion and DC removal, block by block with state carried over."""

from __future__ import annotations

import math

import numpy as np
import soxr

_DC_CUTOFF_HZ = 5.0  # well below music; removes a constant offset within ~30 ms


class StreamResampler:
    """soxr's streaming resampler (identical output to a one-shot resample of the whole signal)."""

    def __init__(self, rate_in: int, rate_out: int):
        self.rate_in, self.rate_out = rate_in, rate_out
        same = rate_in == rate_out
        self._stream = None if same else soxr.ResampleStream(rate_in, rate_out, 1, dtype="float32", quality="HQ")

    def __call__(self, mono: np.ndarray, last: bool = False) -> np.ndarray:
        mono = np.ascontiguousarray(mono, np.float32)
        return mono if self._stream is None else self._stream.resample_chunk(mono, last=last)


class DcBlocker:
    """First-order high-pass (y[n] = x[n] - x[n-1] + r y[n-1]) with its state kept across blocks."""

    def __init__(self, sample_rate: int, cutoff_hz: float = _DC_CUTOFF_HZ):
        r = math.exp(-2.0 * math.pi * cutoff_hz / sample_rate)
        self.b = np.array([1.0, -1.0], np.float32)
        self.a = np.array([1.0, -r], np.float32)
        self.zi: np.ndarray | None = None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        import scipy.signal  # here, not at the top: MusiCNN's patch stream resamples without paying its import

        if not x.size:
            return x
        if self.zi is None:
            # Start as if the signal had always been at its first value, so a DC offset
            # does not turn into a step (and a fake onset) at time zero.
            self.zi = scipy.signal.lfilter_zi(self.b, self.a).astype(np.float32) * x[0]
        y, self.zi = scipy.signal.lfilter(self.b, self.a, x, zi=self.zi)
        return y.astype(np.float32, copy=False)
