"""Genre models on stored vectors (descriptors, encoder embeddings): logistic regression and a small MLP."""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import torch
from sklearn.pipeline import Pipeline
from torch import nn

from melodex_ml.models.genre_model import GenreModel, ModelCard, SegmentInputs, as_matrix

_PIPELINE_FILE = "pipeline.joblib"
_MLP_WEIGHTS = "mlp.pt"
_MLP_SCALING = "scaling.npz"


class SklearnGenreModel(GenreModel):
    """A fitted scikit-learn pipeline ending in a probabilistic classifier.

    Its embedding is the input as the classifier sees it (imputed and standardised).
    """

    def __init__(self, card: ModelCard, pipeline: Pipeline):
        super().__init__(card)
        classes = [str(c) for c in pipeline.classes_]
        if sorted(classes) != sorted(card.labels):
            raise ValueError(f"pipeline classes {classes} differ from the card's labels {list(card.labels)}")
        self.pipeline = pipeline
        self._columns = [classes.index(label) for label in card.labels]

    def _matrix(self, inputs: SegmentInputs) -> np.ndarray:
        return as_matrix(inputs, len(self.card.input_names) or self.card.extra.get("input_dim"))

    def predict_segments(self, inputs: SegmentInputs) -> np.ndarray:
        return self.pipeline.predict_proba(self._matrix(inputs))[:, self._columns]

    def embed(self, inputs: SegmentInputs) -> np.ndarray:
        return np.asarray(self.pipeline[:-1].transform(self._matrix(inputs)), dtype=np.float32)

    def _save_weights(self, folder: Path) -> None:
        joblib.dump(self.pipeline, folder / _PIPELINE_FILE)

    @classmethod
    def _load(cls, folder: Path, card: ModelCard) -> SklearnGenreModel:
        return cls(card, joblib.load(folder / _PIPELINE_FILE))


class MlpNet(nn.Module):
    """One hidden layer: standardised vector -> hidden (ReLU, the embedding) -> dropout -> logits."""

    def __init__(self, input_dim: int, hidden: int, n_labels: int, dropout: float):
        super().__init__()
        self.hidden = nn.Sequential(nn.Linear(input_dim, hidden), nn.ReLU())
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden, n_labels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.hidden(x))


class Standardizer:
    """Per-column mean/std from the training rows; missing values become the mean (0 after scaling)."""

    def __init__(self, mean: np.ndarray, std: np.ndarray):
        self.mean, self.std = mean.astype(np.float32), std.astype(np.float32)

    @classmethod
    def fit(cls, x: np.ndarray) -> Standardizer:
        mean = np.nan_to_num(np.nanmean(x, axis=0)) if len(x) else np.zeros(x.shape[1])
        std = np.nan_to_num(np.nanstd(x, axis=0))
        return cls(mean, np.where(std > 1e-8, std, 1.0))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        z = (np.asarray(x, np.float32) - self.mean) / self.std
        return np.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)


class MlpGenreModel(GenreModel):
    """A small MLP probe; its embedding is the hidden layer (penultimate)."""

    def __init__(self, card: ModelCard, net: MlpNet, scaler: Standardizer, device: str = "cpu"):
        super().__init__(card)
        self.net = net.to(device).eval()
        self.scaler = scaler
        self.device = device

    def to(self, device: str) -> MlpGenreModel:
        self.net.to(device)
        self.device = device
        return self

    def _tensor(self, inputs: SegmentInputs) -> torch.Tensor:
        matrix = as_matrix(inputs, len(self.scaler.mean))
        return torch.as_tensor(self.scaler(matrix)).to(self.device)

    def outputs(self, inputs: SegmentInputs) -> tuple[np.ndarray, np.ndarray]:
        with torch.inference_mode():
            hidden = self.net.hidden(self._tensor(inputs))
            probabilities = torch.softmax(self.net.head(hidden), dim=1)
        return probabilities.float().cpu().numpy(), hidden.float().cpu().numpy()

    def predict_segments(self, inputs: SegmentInputs) -> np.ndarray:
        return self.outputs(inputs)[0]

    def embed(self, inputs: SegmentInputs) -> np.ndarray:
        return self.outputs(inputs)[1]

    def _save_weights(self, folder: Path) -> None:
        torch.save({k: v.cpu() for k, v in self.net.state_dict().items()}, folder / _MLP_WEIGHTS)
        np.savez(folder / _MLP_SCALING, mean=self.scaler.mean, std=self.scaler.std)

    @classmethod
    def _load(cls, folder: Path, card: ModelCard) -> MlpGenreModel:
        extra = card.extra
        net = MlpNet(extra["input_dim"], extra["hidden"], len(card.labels), extra["dropout"])
        net.load_state_dict(torch.load(folder / _MLP_WEIGHTS, map_location="cpu", weights_only=True))
        scaling = np.load(folder / _MLP_SCALING)
        return cls(card, net, Standardizer(scaling["mean"], scaling["std"]))
