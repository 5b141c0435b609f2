"""Fine-tune a wav2vec2-family encoder + pooled head with the Hugging Face Trainer.

The encoder comes from a local folder or the Hugging Face cache (offline first, like every
model here; :class:`ModelUnavailable` when its weights are not at hand). Each segment trains on
its centre ``clip_seconds`` (whole 30-second segments at 16 kHz make batches of a few dozen MB
and gain little for genre); it is scored on the same clips of the test tracks. The Trainer
evaluates every epoch on validation tracks carved from the train tracks, stops early on the
validation loss and restores the best epoch. Mixed precision (bf16 where supported, else fp16)
runs on CUDA only; on CPU training is fully deterministic (``full_determinism``).
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from melodex_ml.embeddings.audio import load_audio_model
from melodex_ml.embeddings.hub import load_offline_first
from melodex_ml.models.cache import resolve_device
from melodex_ml.models.wav2vec2_classifier import PooledAudioClassifier, Wav2Vec2GenreModel, wav2vec2_card
from melodex_ml.training.audio_segments import PreparedSegments, prepare_tracks
from melodex_ml.training.candidate import CandidateResult, base_notes, check_inputs, score, split_counts
from melodex_ml.training.evaluation import EpochRecord
from melodex_ml.training.evaluation_split import EvaluationSplit, carve_validation
from melodex_ml.training.labels import Taxonomy
from melodex_ml.training.torch_loop import seed_everything, torch_threads

CANDIDATE = "wav2vec2"


@dataclass(frozen=True)
class Wav2Vec2Config:
    model_id: str  # Hugging Face id or local folder
    pooling: str = "mean"  # mean | sum | max
    final_dropout: float = 0.1
    segment_seconds: float = 30.0
    clip_seconds: float | None = 10.0  # centre of each segment used for training; None: the whole segment
    epochs: int = 10
    batch_size: int = 4
    learning_rate: float = 1e-4
    weight_decay: float = 0.0
    warmup_ratio: float = 0.1
    patience: int = 3
    validation_fraction: float = 0.2
    freeze_feature_encoder: bool = True
    trust_remote_code: bool = False
    seed: int = 42
    device: str = "auto"
    cpu_threads: int | None = None


def prepare_audio(tracks: Mapping[str, Path | str], config: Wav2Vec2Config, sample_rate: int) -> PreparedSegments:
    """Centre clips of every segment, mono at the encoder's rate (``sample_rate``)."""
    clip = None if config.clip_seconds is None else round(config.clip_seconds * sample_rate)

    def centre(audio: np.ndarray) -> np.ndarray:
        if clip is None or len(audio) <= clip:
            return audio.astype(np.float32)
        start = (len(audio) - clip) // 2
        return audio[start : start + clip].astype(np.float32)

    return prepare_tracks(tracks, centre, sample_rate=sample_rate, segment_seconds=config.segment_seconds)


def encoder_sample_rate(config: Wav2Vec2Config) -> int:
    """The rate the encoder's feature extractor expects (its weights are not loaded)."""
    from transformers import AutoFeatureExtractor

    def load(source: str, local_only: bool):
        return AutoFeatureExtractor.from_pretrained(source, local_files_only=local_only,
                                                    trust_remote_code=config.trust_remote_code)  # fmt: skip

    extractor = load_offline_first(load, config.model_id, what="audio encoder", setting="MELODEX_AUDIO_ENCODER")
    return int(extractor.sampling_rate)


class _Clips(torch.utils.data.Dataset):
    def __init__(self, prepared: PreparedSegments, rows: list[int], labels: list[int]):
        self.items = [(prepared.inputs[r], label) for r, label in zip(rows, labels, strict=True)]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, object]:
        clip, label = self.items[i]
        return {"clip": clip, "label": label}


def train_wav2vec2_classifier(
    prepared: PreparedSegments, taxonomy: Taxonomy, split: EvaluationSplit, config: Wav2Vec2Config
) -> CandidateResult:
    """Fine-tune on ``prepared`` (from :func:`prepare_audio`) and score on the shared split."""
    device = resolve_device(config.device)
    with torch_threads(config.cpu_threads if device == "cpu" else None):
        return _train(prepared, taxonomy, split, config, device)


def _train(prepared: PreparedSegments, taxonomy: Taxonomy, split: EvaluationSplit, config: Wav2Vec2Config,
           device: str) -> CandidateResult:  # fmt: skip
    from transformers import EarlyStoppingCallback, Trainer, TrainingArguments

    missing = check_inputs(taxonomy, split, prepared.tracks(), CANDIDATE)
    started = time.perf_counter()
    extractor, encoder = load_audio_model(config.model_id, trust_remote_code=config.trust_remote_code)
    if int(extractor.sampling_rate) != prepared.sample_rate:
        raise ValueError(
            f"audio was prepared at {prepared.sample_rate} Hz, the encoder wants {extractor.sampling_rate}"
        )
    seed_everything(config.seed)
    net = PooledAudioClassifier(encoder.train(), len(taxonomy.labels), config.pooling, config.final_dropout)
    if config.freeze_feature_encoder:
        net.freeze_feature_encoder()
    card = wav2vec2_card(CANDIDATE, taxonomy.task, taxonomy.labels, sample_rate=prepared.sample_rate,
                         hidden=encoder.config.hidden_size, segment_seconds=config.segment_seconds,
                         pooling=config.pooling, final_dropout=config.final_dropout, base_model=config.model_id,
                         trust_remote_code=config.trust_remote_code)  # fmt: skip
    model = Wav2Vec2GenreModel(card, extractor, net, device, config.batch_size)

    fit_ids, val_ids = carve_validation(taxonomy, split, config.validation_fraction, config.seed)
    datasets = {}
    for side, ids in (("fit", fit_ids), ("val", val_ids)):
        rows = prepared.rows_of(ids)
        datasets[side] = _Clips(prepared, rows, taxonomy.label_index([prepared.track_ids[r] for r in rows]))
    validating = len(datasets["val"]) > 0

    def collate(items: list[dict[str, object]]) -> dict[str, torch.Tensor]:
        batch = model.batch([item["clip"] for item in items])
        return {**{k: v for k, v in batch.items() if v is not None},
                "labels": torch.tensor([item["label"] for item in items], dtype=torch.long)}  # fmt: skip

    def accuracy(prediction) -> dict[str, float]:
        return {"accuracy": float((np.argmax(prediction.predictions, axis=1) == prediction.label_ids).mean())}

    # An integer step count: transformers 5 also takes a ratio here, 4.x does not.
    warmup_steps = math.ceil(config.warmup_ratio * config.epochs * math.ceil(len(datasets["fit"]) / config.batch_size))
    cuda = device.startswith("cuda")
    bf16 = cuda and torch.cuda.is_bf16_supported()
    with tempfile.TemporaryDirectory(prefix="melodex-wav2vec2-") as output_dir:
        args = TrainingArguments(
            output_dir=output_dir, num_train_epochs=config.epochs, per_device_train_batch_size=config.batch_size,
            per_device_eval_batch_size=config.batch_size, learning_rate=config.learning_rate,
            weight_decay=config.weight_decay, warmup_steps=warmup_steps, logging_strategy="epoch",
            eval_strategy="epoch" if validating else "no", save_strategy="epoch" if validating else "no",
            save_total_limit=1, load_best_model_at_end=validating, metric_for_best_model="eval_loss",
            greater_is_better=False, seed=config.seed, data_seed=config.seed, full_determinism=not cuda,
            use_cpu=not cuda, bf16=bf16, fp16=cuda and not bf16, report_to="none", disable_tqdm=True,
            remove_unused_columns=False, dataloader_num_workers=0, save_only_model=True,
        )  # fmt: skip
        trainer = Trainer(
            model=net, args=args, train_dataset=datasets["fit"], eval_dataset=datasets["val"] if validating else None,
            data_collator=collate, compute_metrics=accuracy,
            callbacks=[EarlyStoppingCallback(early_stopping_patience=config.patience)] if validating else [],
        )  # fmt: skip
        trainer.train()
        history, best_epoch = _history(trainer.state.log_history)
    model.to(device)
    model.net.eval()
    test_rows = prepared.rows_of(split.test_track_ids)
    probabilities = model.predict_segments([prepared.inputs[r] for r in test_rows])
    evaluation = score(model, taxonomy, probabilities, prepared.track_ids[test_rows], missing)
    example_clip = prepared.inputs[test_rows[0] if test_rows else 0][: 2 * prepared.sample_rate]
    return CandidateResult(
        candidate=CANDIDATE, task=taxonomy.task, model=model, evaluation=evaluation, split=split, taxonomy=taxonomy,
        params={"model": "wav2vec2_classifier", **{k: v for k, v in asdict(config).items() if k != "cpu_threads"},
                "mixed_precision": "bf16" if bf16 else "fp16" if cuda else "no"},
        counts=split_counts(split, taxonomy, prepared.track_ids)
        | {"n_fit_clips": len(datasets["fit"]), "n_validation_clips": len(datasets["val"]),
           "n_validation_tracks": len(val_ids), "n_model_tracks": len(fit_ids),
           "n_failed_tracks": len(prepared.failures),
           "n_trainable_parameters": sum(p.numel() for p in net.parameters() if p.requires_grad)},
        train_seconds=time.perf_counter() - started,
        history=tuple(history),
        best_epoch=best_epoch,
        notes=base_notes(taxonomy, split, missing)
        + ("the registered model is the one scored (no refit): fine-tuning twice costs too much",),
        input_example=example_clip[None, :],
        device=device,
    )  # fmt: skip


def _history(log_history: list[dict]) -> tuple[list[EpochRecord], int | None]:
    """Per-epoch records from the Trainer's log, and the epoch with the lowest validation loss."""
    train = {round(e["epoch"]): e["loss"] for e in log_history if "loss" in e and "epoch" in e}
    evals = {round(e["epoch"]): e for e in log_history if "eval_loss" in e}
    records = [
        EpochRecord(
            epoch,
            float(loss),
            evals[epoch]["eval_loss"] if epoch in evals else None,
            None,
            evals[epoch].get("eval_accuracy") if epoch in evals else None,
        )  # fmt: skip
        for epoch, loss in sorted(train.items())
    ]
    if not evals:
        return records, (records[-1].epoch if records else None)
    return records, min(evals, key=lambda epoch: (evals[epoch]["eval_loss"], epoch))
