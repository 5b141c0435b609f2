"""The supervised loop the MFCC CNN and the MLP probe share: Adam, clipping, early stopping, best epoch.

Seeded end to end (weights, shuffling, dropout), so the same data and seed give the same
weights on the same machine. Early stopping watches the validation loss; the weights of the
best epoch are restored at the end, as the recipe's ``best_model_pytorch.pt`` was.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from melodex_ml.models.cache import resolve_device
from melodex_ml.training.evaluation import EpochRecord


@dataclass(frozen=True)
class LoopConfig:
    max_epochs: int = 30
    batch_size: int = 64
    learning_rate: float = 8e-4
    weight_decay: float = 2e-4  # Adam's L2 penalty
    grad_clip: float = 1.0  # max gradient norm
    patience: int = 8  # epochs without a better validation loss before stopping
    seed: int = 42
    device: str = "auto"  # auto: CUDA when present, else CPU
    # CPU threads while training. These models are small: one thread trains them as fast as
    # several, and intra-op threads spin against feature-extraction workers (measured here: 20
    # CNN steps took 11 s with 2 threads on a busy 2-core machine, 0.3 s with 1). None: torch's.
    cpu_threads: int | None = 1


@dataclass
class FitOutcome:
    module: nn.Module  # in eval mode, on ``device``, holding the best epoch's weights
    history: list[EpochRecord]
    best_epoch: int
    device: str


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run with ``n`` intra-op CPU threads (None: unchanged), restoring the previous count."""
    previous = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def fit(
    build: Callable[[], nn.Module],
    x_fit: np.ndarray,
    y_fit: np.ndarray,
    config: LoopConfig,
    *,
    x_val: np.ndarray | None = None,
    y_val: np.ndarray | None = None,
    epochs: int | None = None,
) -> FitOutcome:
    """Train ``build()`` (called after seeding) with early stopping on (x_val, y_val).

    Without validation data it runs exactly ``epochs`` epochs (a refit for a known best count).
    """
    with training_threads(config):
        return _fit(build, x_fit, y_fit, config, x_val, y_val, epochs)


def training_threads(config: LoopConfig):
    """The thread limit of ``config`` on CPU; trainers hold it while they also score the model."""
    return torch_threads(config.cpu_threads if resolve_device(config.device) == "cpu" else None)


def _fit(build, x_fit, y_fit, config, x_val, y_val, epochs) -> FitOutcome:
    if (x_val is None) != (y_val is None):
        raise ValueError("give both x_val and y_val, or neither")
    validating = x_val is not None and len(x_val) > 0
    max_epochs = config.max_epochs if validating else (epochs or config.max_epochs)
    device = resolve_device(config.device)
    seed_everything(config.seed)
    module = build().to(device)
    optimizer = torch.optim.Adam(module.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    loss_fn = nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(config.seed)
    x_fit_t, y_fit_t = torch.as_tensor(x_fit, dtype=torch.float32), torch.as_tensor(y_fit, dtype=torch.long)

    history: list[EpochRecord] = []
    best_loss, best_epoch, best_state, stale = float("inf"), max_epochs, None, 0
    for epoch in range(1, max_epochs + 1):
        module.train()
        order = torch.randperm(len(x_fit_t), generator=generator)
        total_loss, correct, seen = 0.0, 0, 0
        for start in range(0, len(order), config.batch_size):
            index = order[start : start + config.batch_size]
            if len(index) < 2 and len(order) > 1:
                continue  # batch norm cannot normalise a batch of one
            xb, yb = x_fit_t[index].to(device), y_fit_t[index].to(device)
            optimizer.zero_grad()
            logits = module(xb)
            loss = loss_fn(logits, yb)
            loss.backward()
            nn.utils.clip_grad_norm_(module.parameters(), config.grad_clip)
            optimizer.step()
            total_loss += float(loss.detach()) * len(index)
            correct += int((logits.argmax(1) == yb).sum())
            seen += len(index)
        record = EpochRecord(epoch, total_loss / max(seen, 1), train_accuracy=correct / max(seen, 1))
        if validating:
            val_logits = logits_of(module, x_val, config.batch_size, device)
            val_loss = float(loss_fn(val_logits, torch.as_tensor(y_val, dtype=torch.long)))
            val_acc = float((val_logits.argmax(1).numpy() == y_val).mean())
            record = EpochRecord(epoch, record.train_loss, val_loss, record.train_accuracy, val_acc)
            if val_loss < best_loss - 1e-6:
                best_loss, best_epoch, stale = val_loss, epoch, 0
                best_state = copy.deepcopy(module.state_dict())
            else:
                stale += 1
        history.append(record)
        if validating and stale >= config.patience:
            break
    if best_state is not None:
        module.load_state_dict(best_state)
    module.eval()
    return FitOutcome(module, history, best_epoch if validating else len(history), device)


def logits_of(module: nn.Module, x: np.ndarray, batch_size: int, device: str) -> torch.Tensor:
    """Logits on CPU, computed in eval mode batch by batch."""
    module.eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(x), max(batch_size, 1)):
            xb = torch.as_tensor(x[start : start + batch_size], dtype=torch.float32).to(device)
            out.append(module(xb).float().cpu())
    return torch.cat(out) if out else torch.zeros(0)
