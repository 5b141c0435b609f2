"""The MFCC CNN genre classifier of the old scripts: its front end, network and saved form.

Front end: each segment's mono audio at 22.05 kHz is cut into 3-second windows; each window
becomes 13 MFCCs over 130 frames (n_fft 2048, hop 512), the GTZAN layout of the recipe's
``data.json``, stacked channels-first as (windows, 1, 130, 13). Features are scaled to [0, 1]
with the training windows' minimum and maximum per coefficient (the recipe scales to [0, 1];
per coefficient, because MFCC 0 spans a far wider range than the others and would squash them).

Network (the recipe): conv 32 3x3 + ReLU, 2x2 max-pool, batch norm, spatial dropout 0.35; conv 48
3x3, same; flatten; dense 64 + ReLU, batch norm, dropout 0.7; linear to the labels. A segment's
probabilities are the mean over its windows; its embedding is the mean of the 64-d dense layer
(penultimate) over its windows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import librosa
import numpy as np
import torch
from torch import nn

from melodex_ml.models.genre_model import GenreModel, ModelCard, SegmentInputs

_WEIGHTS = "mfcc_cnn.pt"
_SCALING = "mfcc_scaling.npz"


@dataclass(frozen=True)
class MfccConfig:
    sample_rate: int = 22050
    n_mfcc: int = 13
    n_fft: int = 2048
    hop_length: int = 512
    window_seconds: float = 3.0

    @property
    def window_samples(self) -> int:
        return round(self.window_seconds * self.sample_rate)

    @property
    def frames(self) -> int:
        return 1 + self.window_samples // self.hop_length  # librosa centres frames


def mfcc_windows(audio: np.ndarray, config: MfccConfig = MfccConfig()) -> np.ndarray:
    """(n_windows, 1, frames, n_mfcc) float32 for mono ``audio`` at ``config.sample_rate``.

    A segment shorter than one window is zero-padded to one; a remainder shorter than a window
    is left out (it would be mostly padding).
    """
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1 or not np.isfinite(audio).all():
        raise ValueError(f"expected finite mono audio, got shape {audio.shape}")
    length = config.window_samples
    if len(audio) < length:
        audio = np.pad(audio, (0, length - len(audio)))
    n = len(audio) // length
    windows = audio[: n * length].reshape(n, length)
    mfcc = librosa.feature.mfcc(y=windows, sr=config.sample_rate, n_mfcc=config.n_mfcc, n_fft=config.n_fft,
                                hop_length=config.hop_length)  # fmt: skip
    return np.ascontiguousarray(mfcc.transpose(0, 2, 1)[:, None], dtype=np.float32)


class MinMaxScaling:
    """Per-coefficient [0, 1] scaling fitted on training windows."""

    def __init__(self, low: np.ndarray, high: np.ndarray):
        self.low, self.high = low.astype(np.float32), high.astype(np.float32)

    @classmethod
    def fit(cls, windows: np.ndarray) -> MinMaxScaling:
        return cls(windows.min(axis=(0, 1, 2)), windows.max(axis=(0, 1, 2)))

    def __call__(self, windows: np.ndarray) -> np.ndarray:
        span = np.where(self.high - self.low > 1e-6, self.high - self.low, 1.0)
        return ((windows - self.low) / span).astype(np.float32)


class GenreCnn(nn.Module):
    def __init__(self, frames: int, n_mfcc: int, n_labels: int):
        super().__init__()

        def block(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(cin, cout, 3), nn.ReLU(), nn.MaxPool2d(2), nn.BatchNorm2d(cout),
                                 nn.Dropout2d(0.35))  # fmt: skip

        self.conv = nn.Sequential(block(1, 32), block(32, 48), nn.Flatten())
        with torch.no_grad():
            flat = self.conv(torch.zeros(2, 1, frames, n_mfcc)).shape[1]
        self.dense = nn.Sequential(nn.Linear(flat, 64), nn.ReLU(), nn.BatchNorm1d(64))
        self.head = nn.Sequential(nn.Dropout(0.7), nn.Linear(64, n_labels))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.dense(self.conv(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class MfccCnnGenreModel(GenreModel):
    def __init__(self, card: ModelCard, net: GenreCnn, scaling: MinMaxScaling, device: str = "cpu",
                 batch_size: int = 256):  # fmt: skip
        super().__init__(card)
        self.mfcc = MfccConfig(**card.extra["mfcc"])
        self.net = net.to(device).eval()
        self.scaling = scaling
        self.device = device
        self.batch_size = batch_size

    def to(self, device: str) -> MfccCnnGenreModel:
        self.net.to(device)
        self.device = device
        return self

    def prepare(self, segment_audio: np.ndarray) -> np.ndarray:
        return mfcc_windows(segment_audio, self.mfcc)

    def window_outputs(self, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(window probabilities, window embeddings) of scaled-on-the-fly MFCC windows."""
        probs, feats = [], []
        with torch.inference_mode():
            for start in range(0, len(windows), self.batch_size):
                batch = torch.as_tensor(self.scaling(windows[start : start + self.batch_size])).to(self.device)
                hidden = self.net.features(batch)
                probs.append(torch.softmax(self.net.head(hidden), dim=1).float().cpu().numpy())
                feats.append(hidden.float().cpu().numpy())
        return np.concatenate(probs), np.concatenate(feats)

    def outputs(self, inputs: SegmentInputs) -> tuple[np.ndarray, np.ndarray]:
        """Per segment, the mean of its windows' probabilities and of their penultimate-layer vectors."""
        segments = _segment_list(inputs)
        sizes = [len(s) for s in segments]
        if not segments or min(sizes) == 0:
            raise ValueError("every segment needs at least one MFCC window")
        bounds = np.cumsum([0, *sizes])
        return tuple(
            np.stack([values[a:b].mean(axis=0) for a, b in zip(bounds[:-1], bounds[1:], strict=True)])
            for values in self.window_outputs(np.concatenate(segments))
        )

    def predict_segments(self, inputs: SegmentInputs) -> np.ndarray:
        return self.outputs(inputs)[0]

    def embed(self, inputs: SegmentInputs) -> np.ndarray:
        return self.outputs(inputs)[1]

    def _save_weights(self, folder: Path) -> None:
        torch.save({k: v.cpu() for k, v in self.net.state_dict().items()}, folder / _WEIGHTS)
        np.savez(folder / _SCALING, low=self.scaling.low, high=self.scaling.high)

    @classmethod
    def _load(cls, folder: Path, card: ModelCard) -> MfccCnnGenreModel:
        mfcc = MfccConfig(**card.extra["mfcc"])
        net = GenreCnn(mfcc.frames, mfcc.n_mfcc, len(card.labels))
        net.load_state_dict(torch.load(folder / _WEIGHTS, map_location="cpu", weights_only=True))
        scaling = np.load(folder / _SCALING)
        return cls(card, net, MinMaxScaling(scaling["low"], scaling["high"]))


def mfcc_card(candidate: str, task: str, labels: Sequence[str], mfcc: MfccConfig, segment_seconds: float) -> ModelCard:
    return ModelCard(
        kind="mfcc-cnn", candidate=candidate, task=task, input_kind="mfcc", labels=tuple(labels),
        embedding_source="penultimate", embedding_dim=64, sample_rate=mfcc.sample_rate,
        segment_seconds=segment_seconds, extra={"mfcc": asdict(mfcc), "window_shape": [1, mfcc.frames, mfcc.n_mfcc]},
    )  # fmt: skip


def _segment_list(inputs: SegmentInputs) -> list[np.ndarray]:
    """Per-segment window stacks from a list of (n_w, 1, H, W) or one (n_seg, n_w, 1, H, W) array."""
    if isinstance(inputs, np.ndarray):
        if inputs.ndim == 4:  # a single segment's windows
            return [inputs.astype(np.float32, copy=False)]
        if inputs.ndim != 5:
            raise ValueError(
                f"expected MFCC windows shaped (n_segments, n_windows, 1, frames, n_mfcc), got {inputs.shape}"
            )
        return [segment.astype(np.float32, copy=False) for segment in inputs]
    return [np.asarray(segment, dtype=np.float32) for segment in inputs]
