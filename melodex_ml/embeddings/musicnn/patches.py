"""Audio -> the padded-audio windows behind MusiCNN's 3 s patches, streamed so that memory stays bounded.

A source (a file, decoded block by block, or samples in memory) is mixed down to mono (the channel
mean, as ``librosa.load``), resampled to 16 kHz with soxr (:class:`StreamResampler`) and cut into windows
of :data:`WINDOW_SAMPLES`, one per patch, ``hop_frames * 256`` samples apart (the original's hop is one
patch: no overlap). Only about one window is held at a time, so a two-hour file costs what a song does.

The windows reproduce librosa's centred framing exactly: the signal is edge-padded by 256 samples at both
ends (reflect or zeros, see ``frontend.PadMode``) and patch ``p`` covers frames ``[hop p, hop p + 187)``.
Like the original, the frames after the last whole patch are not analysed. A source shorter than one patch
(about 3 s) is zero-padded to one patch and flagged ``padded`` (the original fails on it).

:class:`PatchStream` is the ``IterableDataset`` a ``DataLoader`` batches: with workers, each worker takes
every n-th source, so files decode in parallel. Per source it yields its windows, then one
:class:`SourceDone` (or :class:`SourceFailed`, after which the source's windows must be dropped).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from melodex_ml.audio.decode import BLOCK_FRAMES, NonFinite, StreamRestarted, open_stream
from melodex_ml.embeddings.musicnn.frontend import (
    EDGE_PAD,
    HOP,
    PATCH_FRAMES,
    SAMPLE_RATE,
    WINDOW_SAMPLES,
    PadMode,
)
from melodex_ml.features.resample import StreamResampler

MAX_CHANNELS = 64  # more "channels" than this means a (samples, channels) array was passed


@dataclass(frozen=True)
class PatchingConfig:
    hop_frames: int = PATCH_FRAMES  # frames between patch starts; the original tags non-overlapping patches
    pad_mode: PadMode = "reflect"
    nonfinite: NonFinite = "zero"  # NaN/Inf samples: replaced by silence and counted, or an error

    def __post_init__(self) -> None:
        if self.hop_frames < 1:
            raise ValueError("hop_frames must be at least 1")


class PatchWindower:
    """Cuts a stream of 16 kHz mono samples into the edge-padded windows behind each patch."""

    def __init__(self, hop_frames: int = PATCH_FRAMES, pad_mode: PadMode = "reflect"):
        self.step = hop_frames * HOP
        self.pad_mode = pad_mode
        self.n_samples = 0
        self.n_windows = 0
        self.padded = False
        self._pending: list[np.ndarray] = []  # samples seen before the start padding could be built
        self._buffer: np.ndarray | None = None  # padded signal from index _base on
        self._base = 0
        self._next = 0  # padded-signal index where the next window starts

    def push(self, samples: np.ndarray) -> list[np.ndarray]:
        samples = np.asarray(samples, dtype=np.float32)
        if not samples.size:
            return []
        self.n_samples += samples.size
        if self._buffer is None:
            self._pending.append(samples)
            if self.n_samples <= EDGE_PAD:  # reflect padding needs EDGE_PAD + 1 samples
                return []
            head = np.concatenate(self._pending)
            self._pending = []
            self._buffer = np.concatenate([self._pad(head, before=True), head])
        else:
            self._buffer = np.concatenate([self._buffer, samples])
        return self._emit()

    def finish(self) -> list[np.ndarray]:
        """The windows left once the stream has ended (the end padding is known only now)."""
        if self.n_samples == 0:
            raise ValueError("no audio samples")
        frames = 1 + self.n_samples // HOP
        if self.n_windows == 0 and frames < PATCH_FRAMES:
            real = np.concatenate(self._pending) if self._buffer is None else self._buffer[EDGE_PAD:]
            real = np.pad(real, (0, (PATCH_FRAMES - 1) * HOP - real.size))  # zeros up to exactly one patch
            self.padded, self.n_windows = True, 1
            return [np.pad(real, EDGE_PAD, mode=self.pad_mode).astype(np.float32)]
        assert self._buffer is not None  # more than EDGE_PAD samples arrived
        self._buffer = np.concatenate([self._buffer, self._pad(self._buffer[-(EDGE_PAD + 1) :], before=False)])
        return self._emit()

    def _pad(self, edge: np.ndarray, *, before: bool) -> np.ndarray:
        widths = (EDGE_PAD, 0) if before else (0, EDGE_PAD)
        padded = np.pad(edge[: EDGE_PAD + 1] if before else edge, widths, mode=self.pad_mode)
        return padded[:EDGE_PAD] if before else padded[-EDGE_PAD:]

    def _emit(self) -> list[np.ndarray]:
        assert self._buffer is not None
        windows = []
        while self._next + WINDOW_SAMPLES <= self._base + self._buffer.size:
            start = self._next - self._base
            windows.append(self._buffer[start : start + WINDOW_SAMPLES].copy())
            self._next += self.step
            self.n_windows += 1
        # Keep what the next window needs, and always the last EDGE_PAD + 1 samples for the end padding.
        drop = min(self._next - self._base, self._buffer.size - (EDGE_PAD + 1))
        if drop > 0:
            self._buffer = self._buffer[drop:]
            self._base += drop
        return windows


@dataclass(frozen=True, eq=False)  # identity equality: comparing sample arrays element-wise makes no sense
class AudioSource:
    """One track to analyse: a file (decoded block by block) or samples in memory, shaped (channels, n)."""

    key: str
    path: Path | None = None
    samples: np.ndarray | None = field(default=None, repr=False)
    sample_rate: int | None = None

    def __post_init__(self) -> None:
        if (self.path is None) == (self.samples is None):
            raise ValueError("an AudioSource needs a path or samples, not both")
        if self.samples is not None and (self.sample_rate is None or int(self.sample_rate) <= 0):
            raise ValueError(f"{self.key}: invalid sample rate {self.sample_rate!r}")


@dataclass(frozen=True)
class SourceDone:
    source: int
    n_patches: int
    duration_s: float  # of the source as given (its own sample rate)
    sample_rate: int
    channels: int
    padded: bool
    nonfinite_samples: int


@dataclass(frozen=True)
class SourceFailed:
    source: int
    error_type: str
    message: str


def _memory_blocks(source: AudioSource, nonfinite: NonFinite, counter: list[int]) -> Iterator[np.ndarray]:
    samples = np.asarray(source.samples)
    if samples.ndim == 1:
        samples = samples[None]
    if samples.ndim != 2 or samples.shape[0] > MAX_CHANNELS:
        raise ValueError(f"expected audio shaped (channels, samples) or (samples,), got {samples.shape}")
    if samples.shape[1] == 0:
        raise ValueError("no audio samples")
    for start in range(0, samples.shape[1], BLOCK_FRAMES):
        block = np.array(samples[:, start : start + BLOCK_FRAMES], dtype=np.float32)
        finite = np.isfinite(block)
        if not finite.all():
            if nonfinite == "error":
                raise ValueError(f"{block.size - np.count_nonzero(finite)} NaN/Inf samples at {start} and after")
            counter[0] += int(block.size - np.count_nonzero(finite))
            block[~finite] = 0.0
        yield block


RESTART = object()  # the stream started over: window numbers begin again at 0


def stream_windows(source: AudioSource, config: PatchingConfig) -> Iterator[np.ndarray | SourceDone | object]:
    """The source's windows in order, then its :class:`SourceDone` (``source`` index left at -1);
    :data:`RESTART` when the decoder started over."""
    counter = [0]
    if source.path is not None:
        stream = open_stream(source.path, nonfinite=config.nonfinite)
        rate, channels, blocks = stream.info.sample_rate, stream.info.channels, iter(stream)
    else:
        rate, blocks = int(source.sample_rate), _memory_blocks(source, config.nonfinite, counter)
        channels = 1 if np.ndim(source.samples) == 1 else int(np.shape(source.samples)[0])
    while True:
        resample = StreamResampler(rate, SAMPLE_RATE)
        windower = PatchWindower(config.hop_frames, config.pad_mode)
        frames = 0
        try:
            for block in blocks:
                frames += block.shape[1]
                yield from windower.push(resample(block.mean(axis=0)))
            break
        except StreamRestarted:
            # libsndfile failed part-way and FFmpeg decodes the file from its start: the windows
            # so far are cut again (numbered from 0, so they replace the first pass's).
            yield RESTART
            blocks = iter(stream)
    yield from windower.push(resample(np.zeros(0, np.float32), last=True))
    yield from windower.finish()
    nonfinite = stream.nonfinite_samples if source.path is not None else counter[0]
    yield SourceDone(-1, windower.n_windows, frames / rate, rate, channels, windower.padded, nonfinite)


@dataclass(frozen=True)
class PatchItem:
    source: int
    patch: int
    window: np.ndarray


class PatchStream(IterableDataset):
    """Windows of many sources for a ``DataLoader``; a failing source yields :class:`SourceFailed`, the rest go on."""

    def __init__(
        self, sources: Sequence[AudioSource], config: PatchingConfig, *, raise_errors: bool = False,
        sharded: bool = True,
    ):  # fmt: skip
        super().__init__()
        self.sources = list(sources)
        self.config = config
        self.raise_errors = raise_errors  # let the first error propagate (single source, in process)
        # Whether this stream's own DataLoader has workers to share the sources among. Without them
        # the stream takes every source even inside another DataLoader's worker process (MusiCNN
        # tags computed while a genre model's dataset is read), whose worker info it would see.
        self.sharded = sharded

    def __iter__(self) -> Iterator[PatchItem | SourceDone | SourceFailed]:
        worker = get_worker_info() if self.sharded else None
        first, every = (0, 1) if worker is None else (worker.id, worker.num_workers)
        for index in range(first, len(self.sources), every):
            patch = 0
            try:
                for item in stream_windows(self.sources[index], self.config):
                    if isinstance(item, SourceDone):
                        yield replace(item, source=index)
                    elif item is RESTART:
                        patch = 0
                    else:
                        yield PatchItem(index, patch, item)
                        patch += 1
            except Exception as exc:  # one bad file must not end the batch; the caller records it
                if self.raise_errors:
                    raise
                yield SourceFailed(index, type(exc).__name__, str(exc) or repr(exc))


@dataclass
class PatchBatch:
    windows: torch.Tensor  # (b, WINDOW_SAMPLES) float32
    source: torch.Tensor  # (b,) int64: index into the sources
    patch: torch.Tensor  # (b,) int64: patch number within its source
    events: list[SourceDone | SourceFailed]  # sources that ended with this batch, after its windows

    def pin_memory(self) -> PatchBatch:  # called by the DataLoader's pinning thread
        self.windows = self.windows.pin_memory()
        return self


def collate_patches(items: list[PatchItem | SourceDone | SourceFailed]) -> PatchBatch:
    patches = [item for item in items if isinstance(item, PatchItem)]
    windows = np.stack([p.window for p in patches]) if patches else np.zeros((0, WINDOW_SAMPLES), np.float32)
    return PatchBatch(
        windows=torch.from_numpy(windows),
        source=torch.tensor([p.source for p in patches], dtype=torch.int64),
        patch=torch.tensor([p.patch for p in patches], dtype=torch.int64),
        events=[item for item in items if not isinstance(item, PatchItem)],
    )
