"""MusiCNN tags and embeddings for whole tracks: cached models, batched patches, one pass over the audio.

One :class:`MusicnnTagger` runs several networks (by default MSD and MTT) on the same patches, so a file is
decoded, resampled and turned into a log-mel spectrogram once. Patches go through a ``DataLoader``
(``batch_size`` patches a forward pass; ``num_workers`` processes decode files in parallel, each taking
whole files), with pinned memory and fp16/bf16 autocast on CUDA only; the log-mel front end always runs
in float32. Networks are loaded once per process through the model cache (key: model and device).

A source that fails (undecodable, empty, NaN under ``nonfinite="error"``, or outputs that are not finite)
becomes a failure; the other sources go on. Outputs are never NaN.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch.utils.data import DataLoader

from melodex_ml.audio.decode import NonFinite
from melodex_ml.bookkeeping import Failure
from melodex_ml.embeddings.musicnn.frontend import HOP, SAMPLE_RATE, LogMelSpectrogram, PadMode
from melodex_ml.embeddings.musicnn.model import MusiCNN
from melodex_ml.embeddings.musicnn.patches import (
    AudioSource,
    PatchBatch,
    PatchingConfig,
    PatchStream,
    SourceDone,
    SourceFailed,
    collate_patches,
)
from melodex_ml.embeddings.musicnn.records import ModelOutput, MusicnnResult, pool_patches
from melodex_ml.embeddings.musicnn.specs import EMBEDDING_LAYER, model_spec
from melodex_ml.embeddings.musicnn.weights import checkpoint_sha256, load_musicnn
from melodex_ml.models.cache import ModelCache, bound_heap_growth, process_cache, resolve_device
from melodex_ml.settings import MelodexSettings

log = logging.getLogger(__name__)

STAGE = "embeddings"
DEFAULT_MODELS = ("msd-musicnn", "mtt-musicnn")
Precision = Literal["auto", "fp32", "fp16", "bf16"]
_AUTOCAST_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}


@dataclass(frozen=True)
class MusicnnConfig:
    models: tuple[str, ...] = DEFAULT_MODELS
    batch_size: int = 32  # patches per forward pass
    num_workers: int = 0  # DataLoader processes decoding files (0: in the calling process)
    segment_seconds: float = 30.0
    hop_frames: int = 187  # between patch starts; 187 (no overlap) is the original's
    pad_mode: PadMode = "reflect"
    precision: Precision = "auto"  # CUDA only (auto = fp16 there); CPU always computes in float32
    nonfinite: NonFinite = "zero"

    def __post_init__(self) -> None:
        if not self.models:
            raise ValueError("at least one MusiCNN model is needed")
        for name in self.models:
            model_spec(name)  # unknown names fail here
        if self.batch_size < 1 or self.num_workers < 0 or self.segment_seconds <= 0:
            raise ValueError("batch_size >= 1, num_workers >= 0 and segment_seconds > 0 are required")

    @classmethod
    def from_settings(cls, settings: MelodexSettings, **overrides) -> MusicnnConfig:
        return cls(**{"segment_seconds": settings.segment_seconds, **overrides})

    @property
    def patching(self) -> PatchingConfig:
        return PatchingConfig(hop_frames=self.hop_frames, pad_mode=self.pad_mode, nonfinite=self.nonfinite)


@dataclass(frozen=True)
class LoadedMusicnn:
    """What the model cache holds per (model, device): the network and the identity of its weights."""

    name: str
    network: MusiCNN
    checkpoint_sha256: str
    labels: tuple[str, ...]


@dataclass
class MusicnnBatchResult:
    results: list[MusicnnResult] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)


@dataclass
class _Pending:
    """Per-patch outputs of a source whose end has not been seen yet, by patch number (a decoder that
    starts over numbers its windows from 0 again, and the second pass replaces the first)."""

    outputs: dict[int, dict[str, tuple[np.ndarray, np.ndarray]]] = field(default_factory=dict)


class MusicnnTagger:
    def __init__(
        self, networks: Sequence[LoadedMusicnn], frontend: LogMelSpectrogram, config: MusicnnConfig, device: str
    ):
        self.networks = list(networks)
        self.frontend = frontend
        self.config = config
        self.device = device

    @classmethod
    def load(
        cls,
        models: str | Sequence[str] | None = None,
        *,
        device: str = "cpu",
        cache: ModelCache | None = None,
        config: MusicnnConfig | None = None,
    ) -> MusicnnTagger:
        """Networks ``models`` (default: the config's, MSD and MTT) on ``device``, each loaded once per process."""
        config = config or MusicnnConfig()
        if models is not None:
            config = replace(config, models=(models,) if isinstance(models, str) else tuple(models))
        device = resolve_device(device)
        cache = cache or process_cache()
        bound_heap_growth()

        def loader(name: str):
            return lambda: LoadedMusicnn(
                name, load_musicnn(name, device), checkpoint_sha256(name), model_spec(name).labels
            )

        networks = [cache.get(f"musicnn:{name}:{device}", loader(name)) for name in config.models]
        frontend = cache.get(f"musicnn-frontend:{device}", lambda: LogMelSpectrogram().to(device).eval())
        return cls(networks, frontend, config, device)

    @classmethod
    def from_settings(
        cls, settings: MelodexSettings, *, device: str | None = None, cache: ModelCache | None = None, **overrides
    ) -> MusicnnTagger:
        config = MusicnnConfig.from_settings(settings, **overrides)
        return cls.load(device=device or settings.device, cache=cache, config=config)

    # ----------------------------------------------------------------------------------- public entry points

    def analyse(self, samples: np.ndarray, sample_rate: int, *, key: str = "") -> MusicnnResult:
        """Samples in memory, (channels, n) or (n,) float; raises ``ValueError`` on input it cannot analyse."""
        return self._one(AudioSource(key, samples=samples, sample_rate=sample_rate))

    def analyse_file(self, path: Path | str, *, key: str | None = None) -> MusicnnResult:
        """A file, decoded block by block (bounded memory for any length); raises on a failure."""
        return self._one(AudioSource(str(path) if key is None else key, path=Path(path)))

    def analyse_tracks(self, tracks: Iterable[tuple[str, Path]], *, stage: str = STAGE) -> MusicnnBatchResult:
        """Every ``(track_id, path)``; a track that fails becomes a :class:`Failure`, the rest go on."""
        tracks = list(tracks)
        result = MusicnnBatchResult()
        for item in self.iter_sources([AudioSource(track_id, path=Path(path)) for track_id, path in tracks]):
            if isinstance(item, MusicnnResult):
                result.results.append(item)
                continue
            track_id, path = tracks[item.source]
            log.warning("MusiCNN failed for %s (%s): %s: %s", track_id, path, item.error_type, item.message)
            result.failures.append(Failure(stage, track_id, item.error_type, item.message, str(path)))
        return result

    def iter_sources(self, sources: Sequence[AudioSource]) -> Iterator[MusicnnResult | SourceFailed]:
        """A result per source, in the order they finish; a source that fails comes as :class:`SourceFailed`."""
        yield from self._iterate(sources, raise_errors=False)

    def _iterate(self, sources: Sequence[AudioSource], *, raise_errors: bool) -> Iterator[MusicnnResult | SourceFailed]:
        workers = 0 if raise_errors else min(self.config.num_workers, len(sources))
        loader = DataLoader(
            PatchStream(sources, self.config.patching, raise_errors=raise_errors, sharded=workers > 0),
            batch_size=self.config.batch_size,
            num_workers=workers,
            collate_fn=collate_patches,
            pin_memory=self._on_cuda,
        )
        pending: dict[int, _Pending] = {}
        for batch in loader:
            self._run_batch(batch, pending)
            for event in batch.events:
                state = pending.pop(event.source, _Pending())
                if isinstance(event, SourceFailed):
                    yield event
                    continue
                try:
                    yield self._result(sources[event.source], event, state)
                except ValueError as exc:
                    if raise_errors:
                        raise
                    yield SourceFailed(event.source, type(exc).__name__, str(exc))

    # ----------------------------------------------------------------------------------- inference

    @torch.inference_mode()
    def infer_windows(self, windows: torch.Tensor) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """(embeddings, tags) per model for a batch of padded-audio windows (see ``patches``)."""
        logmel = self.frontend(windows.to(self.device, non_blocking=True))  # float32, outside autocast
        return self.infer_logmel(logmel)

    @torch.inference_mode()
    def infer_logmel(self, logmel: torch.Tensor) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """(embeddings, tags) per model for log-mel patches (batch, 187, 96)."""
        logmel = logmel.to(self.device)
        out = {}
        with self._autocast():
            for net in self.networks:
                result = net.network(logmel)
                out[net.name] = (result.embedding.float().cpu().numpy(), result.tags.float().cpu().numpy())
        return out

    @property
    def _on_cuda(self) -> bool:
        return self.device.startswith("cuda")

    def _autocast(self):
        precision = "fp16" if self.config.precision == "auto" else self.config.precision
        if not self._on_cuda or precision == "fp32":
            return nullcontext()
        return torch.autocast("cuda", dtype=_AUTOCAST_DTYPES[precision])

    def _one(self, source: AudioSource) -> MusicnnResult:
        # In this process and without catching, so the caller gets the original exception and its type.
        (result,) = list(self._iterate([source], raise_errors=True))
        return result

    def _run_batch(self, batch: PatchBatch, pending: dict[int, _Pending]) -> None:
        if not len(batch.windows):
            return
        outputs = self.infer_windows(batch.windows)
        for row, (source, patch) in enumerate(zip(batch.source.tolist(), batch.patch.tolist(), strict=True)):
            state = pending.setdefault(source, _Pending())
            state.outputs[patch] = {name: (embeddings[row], tags[row]) for name, (embeddings, tags) in outputs.items()}

    def _result(self, source: AudioSource, done: SourceDone, state: _Pending) -> MusicnnResult:
        if any(patch not in state.outputs for patch in range(done.n_patches)):
            raise ValueError(f"{source.key}: {done.n_patches} patches cut but {len(state.outputs)} analysed")
        patches = range(done.n_patches)
        hop_s = self.config.hop_frames * HOP / SAMPLE_RATE
        starts = np.arange(done.n_patches, dtype=np.float64) * hop_s
        outputs, segments = {}, ()
        for net in self.networks:
            embeddings = np.stack([state.outputs[p][net.name][0] for p in patches])
            tags = np.stack([state.outputs[p][net.name][1] for p in patches])
            if not (np.isfinite(embeddings).all() and np.isfinite(tags).all()):
                raise ValueError(
                    f"{source.key}: {net.name} produced non-finite outputs (is the audio wildly out of range?)"
                )
            segments, seg_emb, seg_tags, emb, track_tags = pool_patches(
                embeddings, tags, starts, done.duration_s, self.config.segment_seconds
            )
            outputs[net.name] = ModelOutput(
                net.name, net.checkpoint_sha256, EMBEDDING_LAYER, net.labels, emb, track_tags, seg_emb, seg_tags
            )
        return MusicnnResult(
            key=source.key,
            duration_s=done.duration_s,
            sample_rate=done.sample_rate,
            channels=done.channels,
            n_patches=done.n_patches,
            patch_hop_s=hop_s,
            segments=segments,
            outputs=outputs,
            padded=done.padded,
            nonfinite_samples=done.nonfinite_samples,
        )
