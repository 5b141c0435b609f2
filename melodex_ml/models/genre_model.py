"""The one interface inference loads, whatever candidate won: segment probabilities and embeddings.

A :class:`GenreModel` says what it eats (``input_kind``) and returns, for a track's segments,
``predict_segments(inputs) -> (n_segments, n_labels)`` probabilities (rows sum to 1) and
``embed(inputs) -> (n_segments, dim)`` vectors (``outputs`` gives both from one forward pass); the track's global prediction and embedding are
the means over its segments (:meth:`GenreModel.predict_track`). ``embedding_source`` says which
vector that is: ``input`` (the model's own input vector, e.g. the MusiCNN embedding) or
``penultimate`` (the classifier's last hidden layer).

Input kinds:

- ``descriptors``: (n_segments, n_features) segment descriptors, columns in ``input_names`` order;
- ``embedding:<encoder>``: (n_segments, dim) segment vectors of a stored encoder;
- ``tags:musicnn``: (n_segments, 100) MusiCNN tag probabilities, msd-musicnn's 50 then mtt-musicnn's 50,
  each in its network's label order (:mod:`melodex_ml.embeddings.segment_tags`);
- ``mfcc``: per segment, the MFCC windows :meth:`prepare` computes from its mono audio at
  ``sample_rate`` (so DataLoader workers can compute them);
- ``audio``: per segment, mono float32 audio at ``sample_rate`` (:meth:`prepare` only checks it).

A model saves itself to a folder (``genre_model.json`` + weights) and comes back with
:func:`load_model_folder`; the MLflow pyfunc (:mod:`melodex_ml.models.pyfunc`) wraps that folder.
"""

from __future__ import annotations

import importlib
import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

CARD_FILE = "genre_model.json"
DESCRIPTORS = "descriptors"
MFCC = "mfcc"
AUDIO = "audio"
TAGS = "tags:musicnn"
AUDIO_KINDS = (MFCC, AUDIO)

# Implementation kind -> "module:Class", imported only when a model of that kind is loaded,
# so a descriptor model loads without importing torch or transformers.
_IMPLEMENTATIONS = {
    "sklearn": "melodex_ml.models.vector_models:SklearnGenreModel",
    "mlp": "melodex_ml.models.vector_models:MlpGenreModel",
    "mfcc-cnn": "melodex_ml.models.mfcc_cnn:MfccCnnGenreModel",
    "wav2vec2": "melodex_ml.models.wav2vec2_classifier:Wav2Vec2GenreModel",
    "zero-shot": "melodex_ml.models.zero_shot:ZeroShotGenreModel",
}

SegmentInputs = np.ndarray | Sequence[np.ndarray]


def embedding_input(encoder: str) -> str:
    return f"embedding:{encoder}"


@dataclass(frozen=True)
class ModelCard:
    """Everything besides the weights that inference needs to feed a model and read its output."""

    kind: str  # implementation, a key of _IMPLEMENTATIONS
    candidate: str  # e.g. descriptor-logreg, probe-mlp:msd-musicnn, mfcc-cnn, wav2vec2, zero-shot-tags
    task: str
    input_kind: str
    labels: tuple[str, ...]
    embedding_source: str  # input | penultimate
    embedding_dim: int
    input_names: tuple[str, ...] = ()  # descriptor columns, in order
    sample_rate: int | None = None  # audio kinds: rate of the segment audio handed to prepare()
    segment_seconds: float = 30.0
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in _IMPLEMENTATIONS:
            raise ValueError(f"unknown model kind {self.kind!r}; known: {', '.join(_IMPLEMENTATIONS)}")
        if self.input_kind in AUDIO_KINDS and not self.sample_rate:
            raise ValueError(f"a model on {self.input_kind} inputs needs its sample_rate")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelCard:
        data = dict(data)
        data["labels"] = tuple(data["labels"])
        data["input_names"] = tuple(data.get("input_names", ()))
        return cls(**data)


class GenreModel(ABC):
    def __init__(self, card: ModelCard):
        self.card = card

    @property
    def labels(self) -> tuple[str, ...]:
        return self.card.labels

    @property
    def input_kind(self) -> str:
        return self.card.input_kind

    @property
    def embedding_source(self) -> str:
        return self.card.embedding_source

    @abstractmethod
    def predict_segments(self, inputs: SegmentInputs) -> np.ndarray:
        """(n_segments, n_labels) probabilities, columns in ``labels`` order."""

    @abstractmethod
    def embed(self, inputs: SegmentInputs) -> np.ndarray:
        """(n_segments, embedding_dim) vectors."""

    def outputs(self, inputs: SegmentInputs) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities, embeddings) of the segments; networks override it to run one forward pass for both."""
        return self.predict_segments(inputs), self.embed(inputs)

    def to(self, device: str) -> GenreModel:
        """Move the weights to ``device`` (cpu, cuda, ...); models without torch weights stay put."""
        return self

    def prepare(self, segment_audio: np.ndarray) -> np.ndarray:
        """The model input of one segment from its mono audio at ``card.sample_rate`` (audio kinds only)."""
        raise TypeError(f"a {self.input_kind} model takes stored vectors, not audio")

    def predict_track(self, inputs: SegmentInputs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(segment probabilities, global probabilities = their mean, track embedding = mean of segments')."""
        segments, embeddings = self.outputs(inputs)
        return segments, segments.mean(axis=0), embeddings.mean(axis=0)

    def save(self, folder: Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self._save_weights(folder)
        (folder / CARD_FILE).write_text(json.dumps(self.card.to_json(), indent=1) + "\n")
        return folder

    @abstractmethod
    def _save_weights(self, folder: Path) -> None: ...

    @classmethod
    @abstractmethod
    def _load(cls, folder: Path, card: ModelCard) -> GenreModel: ...


def read_card(folder: Path) -> ModelCard:
    path = Path(folder) / CARD_FILE
    try:
        return ModelCard.from_json(json.loads(path.read_text()))
    except FileNotFoundError:
        raise FileNotFoundError(f"{folder} holds no saved genre model ({CARD_FILE} is missing)") from None


def load_model_folder(folder: Path) -> GenreModel:
    """The model saved in ``folder`` by :meth:`GenreModel.save`."""
    card = read_card(folder)
    module, _, name = _IMPLEMENTATIONS[card.kind].partition(":")
    implementation: type[GenreModel] = getattr(importlib.import_module(module), name)
    return implementation._load(Path(folder), card)


def as_matrix(inputs: SegmentInputs, width: int | None = None) -> np.ndarray:
    """Vector inputs as a float32 (n, width) matrix, with a clear error for the wrong shape."""
    matrix = np.asarray(inputs, dtype=np.float32)
    if matrix.ndim == 1:
        matrix = matrix.reshape(1, -1)
    if matrix.ndim != 2 or (width is not None and matrix.shape[1] != width):
        raise ValueError(f"expected segment vectors shaped (n, {width or 'dim'}), got {matrix.shape}")
    return matrix
