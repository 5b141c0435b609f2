"""A wav2vec2-family encoder with a pooled classification head, the design of the old classifier.

Any Hugging Face audio encoder with a ``last_hidden_state`` works (wav2vec2, HuBERT, WavLM...).
Hidden states are pooled over time (``mean``, ``sum`` or ``max``, padding frames excluded), then
the head: dropout, dense + tanh, dropout (``final_dropout``), linear to the labels. The dense +
tanh output is the embedding (penultimate layer).

Models whose feature extractor normalises with group norm (wav2vec2-base) must not be given an
attention mask (Hugging Face's advice: their outputs change with padding otherwise); the mask
still decides which frames are pooled.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn
from transformers.modeling_outputs import SequenceClassifierOutput

from melodex_ml.models.genre_model import AUDIO, GenreModel, ModelCard, SegmentInputs

Pooling = Literal["mean", "sum", "max"]
POOLING_MODES: tuple[str, ...] = ("mean", "sum", "max")
_ENCODER_DIR = "encoder"
_HEAD_WEIGHTS = "head.pt"


def pool(hidden: torch.Tensor, frame_mask: torch.Tensor | None, mode: str) -> torch.Tensor:
    """(batch, frames, dim) -> (batch, dim) over the frames where ``frame_mask`` is true."""
    if mode not in POOLING_MODES:
        raise ValueError(f"pooling must be one of {POOLING_MODES}, not {mode!r}")
    if frame_mask is None:
        frame_mask = torch.ones(hidden.shape[:2], dtype=torch.bool, device=hidden.device)
    mask = frame_mask.unsqueeze(-1).to(hidden.dtype)
    if mode == "max":
        return hidden.masked_fill(mask == 0, torch.finfo(hidden.dtype).min).max(dim=1).values
    total = (hidden * mask).sum(dim=1)
    return total if mode == "sum" else total / mask.sum(dim=1).clamp(min=1.0)


class PooledAudioClassifier(nn.Module):
    def __init__(self, encoder: Any, n_labels: int, pooling: str = "mean", final_dropout: float = 0.1):
        super().__init__()
        if pooling not in POOLING_MODES:
            raise ValueError(f"pooling must be one of {POOLING_MODES}, not {pooling!r}")
        hidden = encoder.config.hidden_size
        self.encoder = encoder
        self.pooling = pooling
        self.dense = nn.Sequential(nn.Dropout(final_dropout), nn.Linear(hidden, hidden), nn.Tanh())
        self.out = nn.Sequential(nn.Dropout(final_dropout), nn.Linear(hidden, n_labels))

    def freeze_feature_encoder(self) -> None:
        """Keep the convolutional front end as pretrained (the usual choice when fine-tuning)."""
        front = getattr(self.encoder, "feature_extractor", None)
        for parameter in front.parameters() if front is not None else ():
            parameter.requires_grad = False

    def features(self, input_values: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        pass_mask = attention_mask is not None and getattr(self.encoder.config, "feat_extract_norm", "layer") == "layer"
        hidden = self.encoder(input_values, attention_mask=attention_mask if pass_mask else None).last_hidden_state
        frame_mask = None
        if attention_mask is not None and hasattr(self.encoder, "_get_feature_vector_attention_mask"):
            frame_mask = self.encoder._get_feature_vector_attention_mask(hidden.shape[1], attention_mask).bool()
        return self.dense(pool(hidden, frame_mask, self.pooling))

    def forward(
        self, input_values: torch.Tensor, attention_mask: torch.Tensor | None = None, labels: torch.Tensor | None = None
    ) -> SequenceClassifierOutput:
        logits = self.out(self.features(input_values, attention_mask))
        loss = nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)


class Wav2Vec2GenreModel(GenreModel):
    """Segment audio (mono, ``card.sample_rate``) in, probabilities and penultimate embeddings out."""

    def __init__(self, card: ModelCard, extractor: Any, net: PooledAudioClassifier, device: str = "cpu",
                 batch_size: int = 4):  # fmt: skip
        super().__init__(card)
        self.extractor = extractor
        self.net = net.to(device).eval()
        self.device = device
        self.batch_size = batch_size

    def to(self, device: str) -> Wav2Vec2GenreModel:
        self.net.to(device)
        self.device = device
        return self

    def prepare(self, segment_audio: np.ndarray) -> np.ndarray:
        audio = np.asarray(segment_audio, dtype=np.float32)
        if audio.ndim != 1 or not len(audio) or not np.isfinite(audio).all():
            raise ValueError(f"expected finite, non-empty mono audio, got shape {audio.shape}")
        return audio

    def batch(self, clips: Sequence[np.ndarray]) -> dict[str, torch.Tensor]:
        """The feature extractor's padded, normalised batch (shared with training)."""
        minimum = 400  # wav2vec2's convolutional front end needs 25 ms at 16 kHz
        clips = [np.pad(c, (0, max(0, minimum - len(c)))) for c in clips]
        inputs = self.extractor(list(clips), sampling_rate=self.card.sample_rate, padding=True, return_tensors="pt",
                                return_attention_mask=True)  # fmt: skip
        return {"input_values": inputs["input_values"], "attention_mask": inputs.get("attention_mask")}

    def outputs(self, inputs: SegmentInputs) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities, pooled encoder features) of each clip, ``batch_size`` clips a forward pass."""
        clips = [
            self.prepare(c) for c in (inputs if not isinstance(inputs, np.ndarray) or inputs.ndim > 1 else [inputs])
        ]
        probabilities, features = [], []
        with torch.inference_mode():
            for start in range(0, len(clips), self.batch_size):
                batch = {k: v.to(self.device) for k, v in self.batch(clips[start : start + self.batch_size]).items()
                         if v is not None}  # fmt: skip
                pooled = self.net.features(**batch)
                probabilities.append(torch.softmax(self.net.out(pooled), dim=1).float().cpu().numpy())
                features.append(pooled.float().cpu().numpy())
        return np.concatenate(probabilities), np.concatenate(features)

    def predict_segments(self, inputs: SegmentInputs) -> np.ndarray:
        return self.outputs(inputs)[0]

    def embed(self, inputs: SegmentInputs) -> np.ndarray:
        return self.outputs(inputs)[1]

    def _save_weights(self, folder: Path) -> None:
        self.net.encoder.save_pretrained(folder / _ENCODER_DIR)
        self.extractor.save_pretrained(folder / _ENCODER_DIR)
        head = {k: v.cpu() for k, v in self.net.state_dict().items() if not k.startswith("encoder.")}
        torch.save(head, folder / _HEAD_WEIGHTS)

    @classmethod
    def _load(cls, folder: Path, card: ModelCard) -> Wav2Vec2GenreModel:
        from transformers import AutoFeatureExtractor, AutoModel

        source = str(folder / _ENCODER_DIR)
        remote = bool(card.extra.get("trust_remote_code", False))
        extractor = AutoFeatureExtractor.from_pretrained(source, local_files_only=True, trust_remote_code=remote)
        encoder = AutoModel.from_pretrained(source, local_files_only=True, trust_remote_code=remote)
        net = PooledAudioClassifier(encoder, len(card.labels), card.extra["pooling"], card.extra["final_dropout"])
        missing = net.load_state_dict(torch.load(folder / _HEAD_WEIGHTS, map_location="cpu", weights_only=True),
                                      strict=False)  # fmt: skip
        if missing.unexpected_keys or any(not k.startswith("encoder.") for k in missing.missing_keys):
            raise ValueError(f"{folder}: head weights do not match ({missing})")
        return cls(card, extractor, net)


def wav2vec2_card(candidate: str, task: str, labels: Sequence[str], *, sample_rate: int, hidden: int,
                  segment_seconds: float, **extra: object) -> ModelCard:  # fmt: skip
    return ModelCard(kind="wav2vec2", candidate=candidate, task=task, input_kind=AUDIO, labels=tuple(labels),
                     embedding_source="penultimate", embedding_dim=hidden, sample_rate=sample_rate,
                     segment_seconds=segment_seconds, extra=dict(extra))  # fmt: skip
