"""Streaming genre inference over audio files: an AudioSegmentDataset through a DataLoader.

Workers decode files and compute the champion's inputs while the main process runs the model on
batches of ``batch_size`` segments (segments of several files share a batch); a track's line is
complete, and yielded, as soon as its last segment has been predicted. Memory holds the batches in
flight and the segment outputs of unfinished tracks (a few floats per segment), never the library.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from torch.utils.data import DataLoader

from melodex_ml.inference.dataset import (
    AudioFeeder,
    AudioSegmentDataset,
    DescriptorFeeder,
    Feeder,
    FileFailed,
    FileStarted,
    MusicnnFeeder,
    SegmentBatch,
    TagsFromMusicnn,
)
from melodex_ml.inference.genre import TrackPrediction, model_block, track_prediction
from melodex_ml.settings import MelodexSettings


@dataclass(frozen=True)
class LoaderOptions:
    batch_size: int = 16  # segments per forward pass
    num_workers: int = 0  # processes decoding files (0: the calling process)
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.num_workers < 0:
            raise ValueError("batch_size >= 1 and num_workers >= 0 are required")

    @classmethod
    def from_settings(cls, settings: MelodexSettings, device: str = "cpu", **overrides) -> LoaderOptions:
        values = {"batch_size": settings.inference_batch_size, "num_workers": settings.inference_workers}
        return cls(device=device, **{**values, **{k: v for k, v in overrides.items() if v is not None}})


@dataclass(frozen=True)
class FileToPredict:
    key: str  # the line's track_id: a library track id, or the path of an ad-hoc file
    path: Path  # what is opened
    shown: str  # the line's audio_file


@dataclass(frozen=True)
class PredictionFailure:
    key: str
    path: str
    error_type: str
    message: str


@dataclass
class _OpenTrack:
    started: FileStarted
    bounds: list[tuple[int, float, float]] = field(default_factory=list)
    probabilities: list[np.ndarray] = field(default_factory=list)
    embeddings: list[np.ndarray] = field(default_factory=list)


def inference_device(spec: str) -> str:
    """The configured device, or the CPU when it is not here: a genre model is small enough for it."""
    from melodex_ml.models.cache import DeviceUnavailable, resolve_device

    try:
        return resolve_device(spec)
    except DeviceUnavailable:
        return "cpu"


def feeder_for(model, settings: MelodexSettings, *, device: str = "cpu", with_tags: bool = False) -> Feeder:
    """What turns a file into ``model``'s inputs; ``with_tags`` adds the file's top MusiCNN tags."""
    from melodex_ml.models.genre_model import AUDIO_KINDS, DESCRIPTORS, TAGS

    tags = TagsFromMusicnn(settings, device) if with_tags else None
    if model.input_kind in AUDIO_KINDS:
        return AudioFeeder(model.prepare, model.card.sample_rate, model.card.segment_seconds, tags)
    if model.input_kind == DESCRIPTORS:
        return DescriptorFeeder(tuple(model.card.input_names), settings, tags)
    if model.input_kind == TAGS:
        return MusicnnFeeder(settings, device, encoder=None, with_tags=with_tags)
    encoder = model.input_kind.partition(":")[2]
    if model.input_kind.startswith("embedding:") and encoder.endswith("-musicnn"):
        return MusicnnFeeder(settings, device, encoder=encoder, with_tags=with_tags)
    raise ValueError(
        f"the champion reads {model.input_kind!r}: files outside the library cannot be fed to it "
        "(only library tracks, whose embeddings are stored, can be predicted)"
    )


def predict_files(
    champion, files: Sequence[FileToPredict], feeder: Feeder, options: LoaderOptions,
    *, tags: Mapping[str, dict] | None = None,
) -> Iterator[TrackPrediction | PredictionFailure]:  # fmt: skip
    """A line per file in the order files finish (a failure for each file that cannot be read)."""
    if not files:
        return
    model = champion.model.to(options.device)
    labels, block = list(model.labels), model_block(champion)
    loader = DataLoader(
        AudioSegmentDataset([f.path for f in files], feeder),
        batch_size=options.batch_size,
        num_workers=min(options.num_workers, len(files)),
        collate_fn=SegmentBatch.collate,
        pin_memory=options.device.startswith("cuda"),
    )
    open_tracks: dict[int, _OpenTrack] = {}
    for batch in loader:
        for event in batch.events:
            if isinstance(event, FileFailed):
                open_tracks.pop(event.file, None)  # a feeder that failed part-way: its segments are dropped
                yield PredictionFailure(files[event.file].key, files[event.file].shown, event.error_type, event.message)
            else:
                open_tracks[event.file] = _OpenTrack(event)
        if not batch.segments:
            continue
        probabilities, embeddings = model.outputs([segment.inputs for segment in batch.segments])
        for segment, p, e in zip(batch.segments, probabilities, embeddings, strict=True):
            track = open_tracks.get(segment.file)
            if track is None:
                continue  # its file failed later in the same batch
            track.bounds.append((segment.segment_index, segment.start_s, segment.end_s))
            track.probabilities.append(p)
            track.embeddings.append(e)
            if len(track.bounds) == track.started.n_segments:
                del open_tracks[segment.file]
                file = files[segment.file]
                yield track_prediction(
                    file.key, file.shown, labels, track.bounds, np.stack(track.probabilities),
                    np.stack(track.embeddings), block,
                    top_tags=track.started.tags if tags is None else tags.get(file.key),
                    flags=track.started.flags,
                )  # fmt: skip
