"""Audio files as a stream of per-segment model inputs, for a ``DataLoader``.

:class:`AudioSegmentDataset` walks its files one at a time (each ``DataLoader`` worker takes every
n-th file), asks a *feeder* for the file's segments, and yields a :class:`FileStarted` event (how
many segments follow, flags, the file's MusiCNN tags when the feeder has them), then one
:class:`SegmentInput` per segment. A file the feeder cannot read yields one :class:`FileFailed`
and the stream goes on. Only the file being read is held in memory, whatever the number of files.

Feeders turn a file into the champion model's inputs, whatever it reads:

- :class:`AudioFeeder`: decoded audio, mono at the model's rate, cut into segments and handed to
  the model's ``prepare`` (MFCC windows, waveforms) one segment at a time;
- :class:`DescriptorFeeder`: the segment descriptors of the feature extractor, in the model's
  column order;
- :class:`MusicnnFeeder`: MusiCNN segment embeddings (``msd-musicnn``, ``mtt-musicnn``), or both
  networks' segment tag probabilities (the zero-shot model's input).

Segments follow the rule of every stage (:func:`melodex_ml.training.audio_segments.segment_bounds`):
``segment_seconds`` pieces, a short remainder joining the last; a file shorter than one segment is
one short segment, flagged ``shorter_than_segment``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
from torch.utils.data import IterableDataset, get_worker_info

from melodex_ml.audio.decode import decode
from melodex_ml.inference.genre import TOP_TAGS
from melodex_ml.settings import MelodexSettings
from melodex_ml.training.audio_segments import segment_bounds, to_mono

SHORT = "shorter_than_segment"
Tags = dict[str, list[dict[str, float | str]]]  # model -> [{"label", "probability"}], most probable first


@dataclass(frozen=True)
class FileSegments:
    """What a feeder makes of one file: segment bounds in seconds, their inputs (lazily), flags, tags."""

    bounds: list[tuple[float, float]]
    inputs: Iterator[np.ndarray]
    flags: tuple[str, ...] = ()
    tags: Tags | None = None


@dataclass(frozen=True)
class FileStarted:
    file: int  # position in the dataset's file list
    n_segments: int
    flags: tuple[str, ...]
    tags: Tags | None


@dataclass(frozen=True)
class SegmentInput:
    file: int
    segment_index: int
    start_s: float
    end_s: float
    inputs: np.ndarray


@dataclass(frozen=True)
class FileFailed:
    file: int
    error_type: str
    message: str


Item = FileStarted | SegmentInput | FileFailed


@dataclass
class SegmentBatch:
    """One ``DataLoader`` batch: up to ``batch_size`` segments, and the file events that came with them."""

    segments: list[SegmentInput] = field(default_factory=list)
    events: list[FileStarted | FileFailed] = field(default_factory=list)

    @classmethod
    def collate(cls, items: Sequence[Item]) -> SegmentBatch:
        batch = cls()
        for item in items:
            (batch.segments if isinstance(item, SegmentInput) else batch.events).append(item)
        return batch

    def pin_memory(self) -> SegmentBatch:  # the DataLoader's pinning thread calls this on CUDA
        import torch

        for i, segment in enumerate(self.segments):
            pinned = torch.from_numpy(np.ascontiguousarray(segment.inputs)).pin_memory()
            self.segments[i] = SegmentInput(segment.file, segment.segment_index, segment.start_s, segment.end_s,
                                            pinned.numpy())  # fmt: skip
        return self


Feeder = Callable[[Path], FileSegments]


class AudioSegmentDataset(IterableDataset):
    """Per-segment inputs of ``paths``, in file order within each worker (see the module docstring)."""

    def __init__(self, paths: Sequence[Path | str], feeder: Feeder):
        self.paths = [Path(p) for p in paths]
        self.feeder = feeder

    def __iter__(self) -> Iterator[Item]:
        worker = get_worker_info()
        mine = range(len(self.paths)) if worker is None else range(worker.id, len(self.paths), worker.num_workers)
        for file in mine:
            try:
                segments = self.feeder(self.paths[file])
                yield FileStarted(file, len(segments.bounds), segments.flags, segments.tags)
                for index, ((start, end), inputs) in enumerate(zip(segments.bounds, segments.inputs, strict=True)):
                    yield SegmentInput(file, index, start, end, inputs)
            except Exception as exc:  # one bad file is reported; the stream goes on
                yield FileFailed(file, type(exc).__name__, str(exc) or type(exc).__name__)


@dataclass
class MusicnnAnalysis:
    """The MusiCNN tagger (both networks), loaded once per process, on the first file it is given."""

    settings: MelodexSettings
    device: str = "cpu"

    @cached_property
    def tagger(self):
        from melodex_ml.embeddings.musicnn.tagger import MusicnnTagger

        return MusicnnTagger.from_settings(self.settings, device=self.device)


@dataclass
class TagsFromMusicnn(MusicnnAnalysis):
    """The top MusiCNN tags of a file, for feeders whose model reads something else."""

    def __call__(self, path: Path) -> Tags:
        return top_tags(self.tagger.analyse_file(path))

    def of_audio(self, samples: np.ndarray, sample_rate: int) -> Tags:
        """The same from samples already decoded, (channels, n) at ``sample_rate``."""
        return top_tags(self.tagger.analyse(samples, sample_rate))


def top_tags(result, k: int = TOP_TAGS) -> Tags:
    """The ``k`` most probable tags of each network of a MusiCNN result."""
    return {model: [{"label": label, "probability": round(p, 6)} for label, p in output.top_tags(k)]
            for model, output in result.outputs.items()}  # fmt: skip


@dataclass
class AudioFeeder:
    """Segments of decoded audio handed to ``prepare`` (the model's front end), one at a time."""

    prepare: Callable[[np.ndarray], np.ndarray]
    sample_rate: int
    segment_seconds: float
    tags: TagsFromMusicnn | None = None

    def __call__(self, path: Path) -> FileSegments:
        decoded = decode(path)  # once: the model's front end and MusiCNN's tags both start from it
        mono = to_mono(decoded.samples, decoded.sample_rate, self.sample_rate)
        if not len(mono):
            raise ValueError("the file decodes to no samples")
        bounds = segment_bounds(len(mono), self.sample_rate, self.segment_seconds)
        short = len(mono) < round(self.segment_seconds * self.sample_rate)
        return FileSegments(
            [(lo / self.sample_rate, hi / self.sample_rate) for lo, hi in bounds],
            (self.prepare(mono[lo:hi]) for lo, hi in bounds),
            (SHORT,) if short else (),
            self.tags.of_audio(decoded.samples, decoded.sample_rate) if self.tags else None,
        )


@dataclass
class DescriptorFeeder:
    """Segment descriptors from the feature extractor, columns in the model's order."""

    input_names: tuple[str, ...]
    settings: MelodexSettings
    tags: Callable[[Path], Tags] | None = None

    @cached_property
    def extractor(self):
        from melodex_ml.features.config import ExtractorConfig
        from melodex_ml.features.extract import FeatureExtractor

        return FeatureExtractor(ExtractorConfig.from_settings(self.settings))

    def __call__(self, path: Path) -> FileSegments:
        import pandas as pd

        from melodex_ml.features.records import SEGMENTS_TABLE
        from melodex_ml.training.dataset import expand_descriptor_columns

        result = self.extractor.extract(path)
        rows = result.rows(str(path))[SEGMENTS_TABLE]
        if not rows:
            raise ValueError("the feature extractor found no segment in the file")
        matrix, _ = expand_descriptor_columns(pd.DataFrame(rows), list(self.input_names))
        short = result.duration_s < self.settings.segment_seconds
        return FileSegments(
            [(float(r["start_s"]), float(r["end_s"])) for r in rows], iter(matrix), (SHORT,) if short else (),
            self.tags(path) if self.tags else None,
        )  # fmt: skip


@dataclass
class MusicnnFeeder(MusicnnAnalysis):
    """MusiCNN's per-segment output as the model's input: one network's embeddings (``encoder``), or
    both networks' tag probabilities laid out as the store's (``encoder=None``, see
    :func:`melodex_ml.embeddings.segment_tags.result_tag_vectors`). One analysis gives the inputs
    and the file's top tags."""

    encoder: str | None = None
    with_tags: bool = True

    def __call__(self, path: Path) -> FileSegments:
        from melodex_ml.embeddings.segment_tags import result_tag_vectors

        result = self.tagger.analyse_file(path)
        vectors = result_tag_vectors(result) if self.encoder is None else result.outputs[self.encoder].segment_embeddings
        short = result.duration_s < self.settings.segment_seconds
        return FileSegments(
            [(float(s.start_s), float(s.end_s)) for s in result.segments], iter(vectors),
            (SHORT,) if short else (), top_tags(result) if self.with_tags else None,
        )  # fmt: skip
