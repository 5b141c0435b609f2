"""Cut a streamed signal into fixed-length segments on the STFT frame grid.

Segments are ``segment_frames`` hops long; the remainder at the end joins the last segment
when it is shorter than half a segment (so no segment is a 2-second scrap), otherwise it is a
segment of its own. Each segment carries ``context`` samples of its neighbours on both sides,
so frames near its edges are the frames one STFT of the whole signal would give.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SegmentAudio:
    index: int
    start: int  # first sample (analysis rate)
    stop: int  # one past the last sample
    padded: np.ndarray  # samples [start - context, stop + context), zeros beyond the signal
    context: int

    @property
    def samples(self) -> np.ndarray:
        return self.padded[self.context : self.context + self.stop - self.start]


class Segmenter:
    def __init__(self, segment_samples: int, context: int):
        self.length = segment_samples
        self.context = context
        self._buffer = np.zeros(context, np.float32)  # left padding of the first segment
        self._origin = -context  # signal index of _buffer[0]
        self._next_start = 0
        self._index = 0

    def push(self, chunk: np.ndarray) -> Iterator[SegmentAudio]:
        self._buffer = np.concatenate([self._buffer, chunk.astype(np.float32, copy=False)])
        # Emit only while 1.5 segments are buffered: the rest may still become a short tail.
        while self._end - self._next_start >= self.length + self.length // 2:
            yield self._emit(self._next_start + self.length)

    def finish(self) -> Iterator[SegmentAudio]:
        """The last segment: whatever is left, between half and one and a half segments long
        (or the whole signal, when it is shorter than that)."""
        end = self._end
        self._buffer = np.concatenate([self._buffer, np.zeros(self.context, np.float32)])
        if end > self._next_start:
            yield self._emit(end)

    @property
    def _end(self) -> int:
        return self._origin + self._buffer.size

    def _emit(self, stop: int) -> SegmentAudio:
        start = self._next_start
        lo, hi = start - self.context - self._origin, stop + self.context - self._origin
        segment = SegmentAudio(self._index, start, stop, self._buffer[lo:hi].copy(), self.context)
        # Keep what the next segment needs: its own samples and its left context.
        keep_from = stop - self.context - self._origin
        self._buffer = self._buffer[keep_from:]
        self._origin += keep_from
        self._next_start = stop
        self._index += 1
        return segment


class TimeBuffer:
    """A streamed signal kept only from the start of the segment being analysed onwards."""

    def __init__(self, sample_rate: int):
        self.sample_rate = sample_rate
        self._buffer = np.zeros(0, np.float32)
        self._origin = 0

    def push(self, chunk: np.ndarray) -> None:
        self._buffer = np.concatenate([self._buffer, chunk.astype(np.float32, copy=False)])

    def take(self, start_s: float, stop_s: float | None) -> np.ndarray:
        """Samples of [start_s, stop_s) (stop None: to the end); earlier samples are dropped."""
        lo = max(0, round(start_s * self.sample_rate) - self._origin)
        hi = self._buffer.size if stop_s is None else max(lo, round(stop_s * self.sample_rate) - self._origin)
        span = self._buffer[lo:hi].copy()
        self._buffer = self._buffer[hi:]
        self._origin += hi
        return span
