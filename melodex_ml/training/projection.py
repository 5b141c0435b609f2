"""Train the text-to-music projection on (track, caption) pairs and score retrieval on held-out tracks.

Tracks (not pairs) are split, by artist where known: no caption of a test track is seen in
training, and a validation part of the train tracks drives early stopping on the contrastive
loss. Each epoch every train track appears once, with one of its captions drawn at random, so
a batch never holds two positives of one track. Retrieval is scored text-to-music: every
caption of a test track queries the test tracks; recall@k is the share of queries whose track
is among the top k, the median rank is 1-based, and chance recall@k (k / tracks) is reported
beside them so a small test set is read honestly.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from melodex_ml.models.projection import ProjectionCard, ProjectionModel, ProjectionNet
from melodex_ml.models.vector_models import Standardizer
from melodex_ml.training.evaluation import EpochRecord
from melodex_ml.training.evaluation_split import holdout_tracks, split_hash
from melodex_ml.training.labels import NotEnoughData
from melodex_ml.training.torch_loop import seed_everything, torch_threads



@dataclass(frozen=True)
class ProjectionConfig:
    dim: int = 128
    hidden: int = 256
    dropout: float = 0.1
    temperature: float = 0.07
    max_epochs: int = 300
    batch_size: int = 64
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    patience: int = 20
    test_fraction: float = 0.2
    validation_fraction: float = 0.15
    seed: int = 42
    cpu_threads: int | None = 1


@dataclass(frozen=True)
class RetrievalMetrics:
    recall_at_1: float
    recall_at_5: float
    recall_at_10: float
    median_rank: float
    n_queries: int
    n_tracks: int  # candidates each query ranks

    def metrics(self) -> dict[str, float]:
        chance = {f"chance_recall_at_{k}": min(1.0, k / self.n_tracks) for k in (1, 5, 10)}
        return {"test_recall_at_1": self.recall_at_1, "test_recall_at_5": self.recall_at_5,
                "test_recall_at_10": self.recall_at_10, "test_median_rank": self.median_rank, **chance}  # fmt: skip


@dataclass(frozen=True)
class ProjectionResult:
    model: ProjectionModel
    retrieval: RetrievalMetrics
    train_track_ids: tuple[str, ...]
    test_track_ids: tuple[str, ...]
    split_hash: str
    history: tuple[EpochRecord, ...]
    best_epoch: int
    train_seconds: float
    params: dict[str, object]
    counts: dict[str, int]
    finished_at: float = field(default_factory=time.time, compare=False)  # as CandidateResult's

    @property
    def started_at(self) -> float:
        return self.finished_at - self.train_seconds


def retrieval_metrics(similarity: np.ndarray, truth: Sequence[int]) -> RetrievalMetrics:
    """Scores of (n_queries, n_tracks) similarities where query i's track is column ``truth[i]``."""
    truth = np.asarray(truth)
    true_scores = similarity[np.arange(len(truth)), truth]
    # A tie is broken at random: the expected rank counts half of the other tracks that tie. (A
    # scorer that gives every track the same score must not look perfect.)
    ties = (similarity == true_scores[:, None]).sum(axis=1) - 1
    ranks = 1 + (similarity > true_scores[:, None]).sum(axis=1) + ties / 2
    return RetrievalMetrics(
        *(float((ranks <= k).mean()) for k in (1, 5, 10)), float(np.median(ranks)), len(truth), similarity.shape[1]
    )


def train_projection(
    audio_vectors: Mapping[str, np.ndarray],
    pairs: Sequence[tuple[str, str]],
    text_encoder,
    *,
    audio_encoder: str,
    artists: Mapping[str, str] | None = None,
    config: ProjectionConfig = ProjectionConfig(),
) -> ProjectionResult:
    """``audio_vectors``: track -> track embedding; ``pairs``: (track, caption); ``text_encoder``: TextEncoder."""
    with torch_threads(config.cpu_threads):
        return _train(audio_vectors, pairs, text_encoder, audio_encoder, artists, config)


def _train(audio_vectors, pairs, text_encoder, audio_encoder, artists, config) -> ProjectionResult:
    started = time.perf_counter()
    pairs = [(t, c.strip()) for t, c in pairs if t in audio_vectors and c and c.strip()]
    tracks = sorted({t for t, _ in pairs})
    if len(tracks) < 4:
        raise NotEnoughData(f"need captions for at least 4 tracks with audio embeddings, got {len(tracks)}")
    kept, test = holdout_tracks(tracks, artists, config.test_fraction, config.seed)
    fit, val = holdout_tracks(list(kept), artists, config.validation_fraction, config.seed + 1)
    captions = text_encoder.encode([c for _, c in pairs])
    captions_of: dict[str, list[int]] = {}
    for i, (t, _) in enumerate(pairs):
        captions_of.setdefault(t, []).append(i)
    audio = {t: np.asarray(v, np.float32).reshape(-1) for t, v in audio_vectors.items() if t in captions_of}
    scaling = Standardizer.fit(np.stack([audio[t] for t in fit]))
    card = ProjectionCard(audio_encoder, text_encoder.model_id, len(audio[tracks[0]]), captions.shape[1], config.dim,
                          config.hidden, config.dropout, config.temperature)  # fmt: skip

    def tensors(ids: Sequence[str], caption_rows: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        return (torch.as_tensor(scaling(np.stack([audio[t] for t in ids]))),
                torch.as_tensor(captions[list(caption_rows)]))  # fmt: skip

    seed_everything(config.seed)
    net = ProjectionNet(card)
    optimizer = torch.optim.Adam(net.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    rng = np.random.default_rng(config.seed)
    val_audio, val_text = tensors(val, [captions_of[t][0] for t in val]) if len(val) > 1 else (None, None)
    history, best, best_state, stale = [], (float("inf"), 0), None, 0
    for epoch in range(1, config.max_epochs + 1):
        net.train()
        order = rng.permutation(len(fit))
        losses = []
        for start in range(0, len(order), config.batch_size):
            ids = [fit[i] for i in order[start : start + config.batch_size]]
            if len(ids) < 2:
                continue  # one pair has no negative
            batch_audio, batch_text = tensors(ids, [rng.choice(captions_of[t]) for t in ids])
            optimizer.zero_grad()
            loss = net.contrastive_loss(batch_audio, batch_text)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
        val_loss = None
        if val_audio is not None:
            net.eval()
            with torch.inference_mode():
                val_loss = float(net.contrastive_loss(val_audio, val_text))
            if val_loss < best[0] - 1e-6:
                best, best_state, stale = (val_loss, epoch), copy.deepcopy(net.state_dict()), 0
            else:
                stale += 1
        history.append(EpochRecord(epoch, float(np.mean(losses)), val_loss))
        if stale >= config.patience:
            break
    if best_state is not None:
        net.load_state_dict(best_state)
    model = ProjectionModel(card, net, scaling)

    queries = [i for t in test for i in captions_of[t]]
    column = {t: j for j, t in enumerate(test)}
    similarity = model.rank(captions[queries], np.stack([audio[t] for t in test]))
    retrieval = retrieval_metrics(similarity, [column[pairs[i][0]] for i in queries])
    return ProjectionResult(
        model=model, retrieval=retrieval, train_track_ids=tuple(kept), test_track_ids=tuple(test),
        split_hash=split_hash(list(kept), list(test)), history=tuple(history),
        best_epoch=best[1] if best_state is not None else len(history), train_seconds=time.perf_counter() - started,
        params={"model": "projection", "audio_encoder": audio_encoder, "text_encoder": text_encoder.model_id,
                **asdict(config)},
        counts={"n_pairs": len(pairs), "n_tracks": len(tracks), "n_fit_tracks": len(fit),
                "n_validation_tracks": len(val),
                "n_test_tracks": len(test), "n_test_queries": len(queries)},
    )  # fmt: skip
