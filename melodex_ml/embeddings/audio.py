"""Transformer audio encoders (MERT, wav2vec2, HuBERT, AST, ...) embedding fixed-length segments.

A track is cut into ``segment_seconds`` pieces (the last one shorter), each piece is embedded
by mean-pooling the encoder's hidden states over time, and the track embedding is the mean of
its segments weighted by their duration, so a short tail does not count as much as a full segment.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from melodex_ml.bookkeeping import Failure
from melodex_ml.embeddings.hdf5 import TrackEmbedding
from melodex_ml.embeddings.hub import load_offline_first
from melodex_ml.models.cache import ModelCache, ModelUnavailable, process_cache, resolve_device
from melodex_ml.settings import MelodexSettings

log = logging.getLogger(__name__)

STAGE = "embeddings"
Pooling = Literal["last", "layers"]
# Convolutional front-ends need a minimum input (wav2vec2: 400 samples); shorter tails are zero-padded.
MIN_SEGMENT_SECONDS = 1.0

AudioLoader = Callable[[Path], tuple[np.ndarray, int]]


@dataclass(frozen=True)
class AudioEncoderConfig:
    model_id: str  # Hugging Face id or local folder
    pooling: Pooling = "last"  # "layers": every hidden state's time-mean, shape (layers, dim)
    segment_seconds: float = 30.0
    batch_size: int = 4
    trust_remote_code: bool = False

    @classmethod
    def from_settings(cls, settings: MelodexSettings) -> AudioEncoderConfig:
        if not settings.audio_encoder:
            raise ModelUnavailable(
                "no audio encoder configured: set MELODEX_AUDIO_ENCODER to a Hugging Face id "
                "(e.g. m-a-p/MERT-v1-95M, with MELODEX_AUDIO_ENCODER_TRUST_REMOTE_CODE=1) or a local folder"
            )
        return cls(
            model_id=settings.audio_encoder,
            pooling=settings.audio_encoder_pooling,
            segment_seconds=settings.segment_seconds,
            batch_size=settings.embedding_batch_size,
            trust_remote_code=settings.audio_encoder_trust_remote_code,
        )


def load_audio_model(model_id: str, *, device: str = "cpu", trust_remote_code: bool = False) -> tuple[Any, Any]:
    """(feature extractor, model in eval mode on ``device``); ModelUnavailable if the weights are not at hand."""
    from transformers import AutoFeatureExtractor, AutoModel

    def load(source: str, local_files_only: bool) -> tuple[Any, Any]:
        kwargs = {"local_files_only": local_files_only, "trust_remote_code": trust_remote_code}
        return AutoFeatureExtractor.from_pretrained(source, **kwargs), AutoModel.from_pretrained(source, **kwargs)

    extractor, model = load_offline_first(load, model_id, what="audio encoder", setting="MELODEX_AUDIO_ENCODER")
    return extractor, model.to(device).eval()


class AudioEncoder:
    """A cached encoder model run with one configuration; cheap to build, so :meth:`load` it per batch."""

    def __init__(self, extractor: Any, model: Any, config: AudioEncoderConfig, device: str):
        self.extractor = extractor
        self.model = model
        self.config = config
        self.device = device

    @classmethod
    def load(cls, config: AudioEncoderConfig, *, device: str = "cpu", cache: ModelCache | None = None) -> AudioEncoder:
        # Only the weights are cached: pooling or batch size may change without reloading them.
        key = f"audio-encoder:{config.model_id}:{device}:remote_code={config.trust_remote_code}"
        extractor, model = (cache or process_cache()).get(
            key, lambda: load_audio_model(config.model_id, device=device, trust_remote_code=config.trust_remote_code)
        )
        return cls(extractor, model, config, device)

    @classmethod
    def from_settings(
        cls, settings: MelodexSettings, *, device: str | None = None, cache: ModelCache | None = None
    ) -> AudioEncoder:
        return cls.load(
            AudioEncoderConfig.from_settings(settings), device=resolve_device(device or settings.device), cache=cache
        )

    @property
    def sample_rate(self) -> int:
        return int(self.extractor.sampling_rate)

    def embed(self, track_id: str, samples: np.ndarray, sample_rate: int) -> TrackEmbedding:
        """Embed ``samples`` ((channels, n) or (n,)) per segment and as a whole track."""
        audio = self._mono_at_model_rate(samples, sample_rate)
        segment_length = round(self.config.segment_seconds * self.sample_rate)
        starts = range(0, len(audio), segment_length)
        pieces = [audio[start : start + segment_length] for start in starts]
        vectors = self._embed_pieces(pieces)
        durations = np.array([len(p) for p in pieces], dtype=np.float64) / self.sample_rate
        start_s = np.array(starts, dtype=np.float64) / self.sample_rate
        return TrackEmbedding(
            track_id=track_id,
            track=np.average(vectors, axis=0, weights=durations).astype(np.float32),
            segments=vectors,
            segment_start_s=start_s,
            segment_end_s=start_s + durations,
        )

    def _mono_at_model_rate(self, samples: np.ndarray, sample_rate: int) -> np.ndarray:
        import torchaudio.functional as AF

        wav = torch.as_tensor(np.asarray(samples, dtype=np.float32))
        if wav.ndim == 2:
            wav = wav.mean(0)
        if wav.ndim != 1 or len(wav) == 0:
            raise ValueError(f"expected audio shaped (channels, samples) or (samples,), got {tuple(wav.shape)}")
        if not torch.isfinite(wav).all():
            raise ValueError("audio contains NaN or infinite samples")
        if sample_rate <= 0:
            raise ValueError(f"invalid sample rate {sample_rate}")
        if sample_rate != self.sample_rate:
            wav = AF.resample(wav, int(sample_rate), self.sample_rate)
        return wav.numpy()

    def _embed_pieces(self, pieces: list[np.ndarray]) -> np.ndarray:
        min_length = math.ceil(MIN_SEGMENT_SECONDS * self.sample_rate)
        pieces = [np.pad(p, (0, min_length - len(p))) if len(p) < min_length else p for p in pieces]
        # Batch only equal-length pieces (all but a short tail): no padding, so no attention-mask
        # support is needed from the encoder and the time-mean covers real audio only.
        out = []
        for _, same_length in groupby(pieces, key=len):
            group = list(same_length)
            for i in range(0, len(group), self.config.batch_size):
                out.append(self._forward(group[i : i + self.config.batch_size]))
        return np.concatenate(out)

    def _forward(self, batch: list[np.ndarray]) -> np.ndarray:
        inputs = self.extractor(batch, sampling_rate=self.sample_rate, return_tensors="pt")
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        layers = self.config.pooling == "layers"
        with torch.inference_mode():
            output = self.model(**inputs, output_hidden_states=layers)
        if getattr(output, "last_hidden_state", None) is None:
            raise TypeError(
                f"{self.config.model_id} returns no last_hidden_state; "
                "use an audio encoder such as MERT, wav2vec2, HuBERT or AST"
            )
        if layers:
            pooled = torch.stack(output.hidden_states, dim=1).mean(dim=2)  # (batch, layers, dim)
        else:
            pooled = output.last_hidden_state.mean(dim=1)  # (batch, dim)
        return pooled.float().cpu().numpy()


@dataclass
class EmbeddingBatchResult:
    embeddings: list[TrackEmbedding] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)


def embed_tracks(
    encoder: AudioEncoder, tracks: Iterable[tuple[str, Path]], *, load: AudioLoader
) -> EmbeddingBatchResult:
    """Embed each ``(track_id, path)``; a track that fails becomes a Failure, the rest go on."""
    result = EmbeddingBatchResult()
    for track_id, path in tracks:
        try:
            samples, sample_rate = load(path)
            result.embeddings.append(encoder.embed(track_id, samples, sample_rate))
        except Exception as exc:
            log.warning("embedding failed for %s (%s): %s", track_id, path, exc)
            result.failures.append(Failure.from_exception(STAGE, track_id, exc, path))
    return result
