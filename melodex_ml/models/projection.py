"""Text-to-music projection: audio and caption embeddings mapped into one space (CLIP-style).

Two small towers (linear -> ReLU -> dropout -> linear) project a track's audio embedding
(standardised) and a caption's sentence embedding into ``dim`` dimensions, both L2-normalised,
so a dot product is a cosine; a learned temperature scales them in the contrastive loss. A text
query is ranked against tracks by that cosine (:meth:`ProjectionModel.rank`, :func:`search`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from melodex_ml.models.vector_models import Standardizer

_CARD = "projection.json"
_WEIGHTS = "projection.pt"
_SCALING = "audio_scaling.npz"


@dataclass(frozen=True)
class ProjectionCard:
    audio_encoder: str  # e.g. msd-musicnn
    text_encoder: str  # e.g. sentence-transformers/all-MiniLM-L6-v2
    audio_dim: int
    text_dim: int
    dim: int = 128
    hidden: int = 256
    dropout: float = 0.1
    temperature: float = 0.07  # initial; learned


def _tower(inputs: int, hidden: int, out: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(inputs, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, out))


class ProjectionNet(nn.Module):
    def __init__(self, card: ProjectionCard):
        super().__init__()
        self.audio = _tower(card.audio_dim, card.hidden, card.dim, card.dropout)
        self.text = _tower(card.text_dim, card.hidden, card.dim, card.dropout)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / card.temperature)))

    def encode_audio(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(self.audio(x), dim=-1)

    def encode_text(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(self.text(x), dim=-1)

    def contrastive_loss(self, audio: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """Symmetric InfoNCE: row i of each batch is the other's positive, the rest its negatives."""
        scale = self.logit_scale.clamp(max=math.log(100.0)).exp()  # CLIP caps the scale at 100
        logits = scale * self.encode_audio(audio) @ self.encode_text(text).T
        target = torch.arange(len(logits), device=logits.device)
        return (nn.functional.cross_entropy(logits, target) + nn.functional.cross_entropy(logits.T, target)) / 2


class ProjectionModel:
    def __init__(self, card: ProjectionCard, net: ProjectionNet, audio_scaling: Standardizer):
        self.card = card
        self.net = net.cpu().eval()
        self.audio_scaling = audio_scaling

    def project_audio(self, vectors: np.ndarray) -> np.ndarray:
        x = torch.as_tensor(self.audio_scaling(np.asarray(vectors, np.float32).reshape(-1, self.card.audio_dim)))
        with torch.inference_mode():
            return self.net.encode_audio(x).numpy()

    def project_text(self, vectors: np.ndarray) -> np.ndarray:
        x = torch.as_tensor(np.asarray(vectors, np.float32).reshape(-1, self.card.text_dim))
        with torch.inference_mode():
            return self.net.encode_text(x).numpy()

    def rank(self, text_vectors: np.ndarray, audio_vectors: np.ndarray) -> np.ndarray:
        """(n_queries, n_tracks) cosine similarities in the joint space."""
        return self.project_text(text_vectors) @ self.project_audio(audio_vectors).T

    def save(self, folder: Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        torch.save(self.net.state_dict(), folder / _WEIGHTS)
        np.savez(folder / _SCALING, mean=self.audio_scaling.mean, std=self.audio_scaling.std)
        (folder / _CARD).write_text(json.dumps(asdict(self.card), indent=1) + "\n")
        return folder

    @classmethod
    def load(cls, folder: Path) -> ProjectionModel:
        folder = Path(folder)
        card = ProjectionCard(**json.loads((folder / _CARD).read_text()))
        net = ProjectionNet(card)
        net.load_state_dict(torch.load(folder / _WEIGHTS, map_location="cpu", weights_only=True))
        scaling = np.load(folder / _SCALING)
        return cls(card, net, Standardizer(scaling["mean"], scaling["std"]))


def search(
    model: ProjectionModel, text_encoder, query: str, audio_vectors: np.ndarray, track_ids: Sequence[str],
    top_k: int = 10,
) -> list[tuple[str, float]]:  # fmt: skip
    """The ``top_k`` tracks for a text query, best first, with their cosine in the joint space.

    ``text_encoder`` must be the sentence encoder the model was trained with (``model.card``).
    """
    if getattr(text_encoder, "model_id", model.card.text_encoder) != model.card.text_encoder:
        raise ValueError(f"the model was trained on {model.card.text_encoder} captions, not {text_encoder.model_id}")
    scores = model.rank(text_encoder.encode([query]), audio_vectors)[0]
    order = np.argsort(-scores, kind="stable")[:top_k]
    return [(str(track_ids[i]), float(scores[i])) for i in order]
