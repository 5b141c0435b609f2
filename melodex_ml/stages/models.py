"""Genre models: every candidate learns the user's taxonomy and is scored on one shared split.

The task (labels from the tracks' tag field, MELODEX_LABEL_FIELD) and its evaluation split (the
unified catalog's held-out tracks) are rebuilt from the store by every candidate, so they are
the same for all of them and their split hash says so. Each candidate family is one stage (one
asset): it trains, logs one MLflow run per model and registers a version. The champion stage then
gives the ``champion`` alias to the best version on the current split (melodex_ml/registry.py).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from melodex_ml.bookkeeping import Failure, StageOutcome
from melodex_ml.models.cache import ModelUnavailable, resolve_device
from melodex_ml.settings import MelodexSettings
from melodex_ml.stages.common import StageReport, failure_recorded, finish_stage, records_failure, skipped
from melodex_ml.store import connect
from melodex_ml.training.candidate import CandidateResult
from melodex_ml.training.evaluation_split import EvaluationSplit, SplitConfig, split_from_catalog
from melodex_ml.training.labels import LabelConfig, NotEnoughData, Taxonomy, build_taxonomy, load_track_tags
from melodex_ml.training.tasks import GENRE

STAGE = "models"


@dataclass(frozen=True)
class GenreTask:
    taxonomy: Taxonomy
    split: EvaluationSplit
    audio: dict[str, Path]  # labelled track -> its audio file, for candidates that read audio

    def notes(self) -> list[str]:
        return [*self.taxonomy.report.lines(), *self.split.notes()]


def load_genre_task(settings: MelodexSettings) -> GenreTask:
    """The task as the store holds it now; NotEnoughData (with the label report) when it cannot train."""
    with connect(settings.duckdb_path, read_only=True) as con:
        tags, artists = load_track_tags(con, settings.label_field)
        catalog = dict(con.execute(
            "SELECT source_id, split FROM dataset_catalog WHERE dataset = 'library'"
        ).fetchall())
        paths = {t: Path(os.fsdecode(raw)) for t, raw in con.execute("SELECT track_id, path_bytes FROM live_tracks").fetchall()}
    taxonomy = build_taxonomy(tags, artists, LabelConfig(field=settings.label_field), task=GENRE)
    split = split_from_catalog(taxonomy, catalog, SplitConfig(seed=settings.seed))
    return GenreTask(taxonomy, split, {t: paths[t] for t in taxonomy.track_ids})


@dataclass(frozen=True)
class Trained:
    results: list[CandidateResult]
    failures: list[Failure]
    skipped: list[str] = field(default_factory=list)  # candidates of the family that could not run, and why


Trainer = Callable[[MelodexSettings, GenreTask], Trained]


def descriptor_candidates(settings: MelodexSettings, task: GenreTask) -> Trained:
    """The baseline: logistic regression on the segment descriptors of `segment_features`."""
    from melodex_ml.training.dataset import load_segment_dataset
    from melodex_ml.training.inputs import SegmentVectors
    from melodex_ml.training.probes import train_logistic_probe

    with connect(settings.duckdb_path, read_only=True) as con:
        data = load_segment_dataset(con, track_ids=list(task.taxonomy.track_ids))
    vectors = SegmentVectors.from_segment_dataset(data)
    return Trained([train_logistic_probe(vectors, task.taxonomy, task.split)], [])


def embedding_probe_candidates(settings: MelodexSettings, task: GenreTask) -> Trained:
    """Logistic regression and a small MLP on the segment vectors of every stored encoder, and the
    zero-shot tag mapping on the MusiCNN segment tags stored with them."""
    from melodex_ml.embeddings.store import read_encoder_embeddings, stored_encoders
    from melodex_ml.training.inputs import SegmentVectors
    from melodex_ml.training.probes import train_logistic_probe, train_mlp_probe

    encoders = stored_encoders(settings)
    zero_shot = zero_shot_candidates(settings, task)
    if not encoders and not zero_shot.results:
        raise ModelUnavailable("no audio embeddings are stored yet (track_embeddings)")
    results = []
    for encoder in encoders:
        embeddings = read_encoder_embeddings(settings, encoder, track_ids=task.taxonomy.track_ids)
        vectors = SegmentVectors.from_embeddings(embeddings, encoder, level="segment")
        results += [train_logistic_probe(vectors, task.taxonomy, task.split),
                    train_mlp_probe(vectors, task.taxonomy, task.split)]  # fmt: skip
    return Trained(results + zero_shot.results, [], zero_shot.skipped)


def zero_shot_candidates(settings: MelodexSettings, task: GenreTask) -> Trained:
    """The genre names mapped onto the stored MusiCNN segment tags, nothing trained; a reason instead when
    there are no tags or no sentence encoder (the probes of the family train regardless)."""
    from melodex_ml.embeddings.segment_tags import read_segment_tags
    from melodex_ml.embeddings.text import TextEncoder
    from melodex_ml.models.zero_shot import CANDIDATE
    from melodex_ml.training.zero_shot import train_zero_shot

    with connect(settings.duckdb_path, read_only=True) as con:
        tags = read_segment_tags(con, task.taxonomy.track_ids)
    if not len(tags):
        return Trained([], [], [f"{CANDIDATE}: no MusiCNN segment tags are stored yet (segment_tags)"])
    try:
        # ~150 short texts: the CPU does it in well under a second, and no accelerator is held for it.
        encoder = TextEncoder.load(settings, device="cpu")
        result = train_zero_shot(tags, task.taxonomy, task.split, encoder.encode, text_encoder=encoder.model_id)
    except (ModelUnavailable, NotEnoughData) as exc:
        return Trained([], [], [f"{CANDIDATE}: {exc}"])
    return Trained([result], [])


def mfcc_cnn_candidates(settings: MelodexSettings, task: GenreTask) -> Trained:
    """The MFCC CNN recipe on 30 s segments read from the audio files."""
    from melodex_ml.training.mfcc_cnn import MfccCnnConfig, prepare_mfcc, train_mfcc_cnn
    from melodex_ml.training.torch_loop import LoopConfig

    config = MfccCnnConfig(segment_seconds=settings.segment_seconds,
                           loop=LoopConfig(seed=settings.seed, device=resolve_device(settings.device)))  # fmt: skip
    prepared = prepare_mfcc(task.audio, config)
    return Trained([train_mfcc_cnn(prepared, task.taxonomy, task.split, config)], prepared.failures)


def wav2vec2_candidates(settings: MelodexSettings, task: GenreTask) -> Trained:
    """A pretrained wav2vec2-family encoder fine-tuned with a classification head (HF Trainer)."""
    if not settings.classifier_encoder:
        raise ModelUnavailable(
            "no encoder to fine-tune: set MELODEX_CLASSIFIER_ENCODER to a wav2vec2/HuBERT folder or Hugging Face id"
        )
    from melodex_ml.training.wav2vec2 import (
        Wav2Vec2Config,
        encoder_sample_rate,
        prepare_audio,
        train_wav2vec2_classifier,
    )

    config = Wav2Vec2Config(model_id=settings.classifier_encoder, segment_seconds=settings.segment_seconds,
                            seed=settings.seed, device=resolve_device(settings.device),
                            trust_remote_code=settings.audio_encoder_trust_remote_code)  # fmt: skip
    prepared = prepare_audio(task.audio, config, encoder_sample_rate(config))
    return Trained([train_wav2vec2_classifier(prepared, task.taxonomy, task.split, config)], prepared.failures)


CANDIDATES: Mapping[str, Trainer] = {
    "descriptors": descriptor_candidates,
    "embedding_probes": embedding_probe_candidates,
    "mfcc_cnn": mfcc_cnn_candidates,
    "wav2vec2": wav2vec2_candidates,
}


def train_candidates(
    settings: MelodexSettings, family: str, *, tags: Mapping[str, str] | None = None, run_id: str | None = None
) -> StageReport:
    """Train one candidate family on the current task, log and register each model (stage ``models:<family>``)."""
    stage = f"{STAGE}:{family}"
    with failure_recorded(settings, stage, "", run_id=run_id):
        return _train_candidates(settings, family, stage, tags or {}, run_id)


def _train_candidates(
    settings: MelodexSettings, family: str, stage: str, tags: Mapping[str, str], run_id: str | None
) -> StageReport:
    from melodex_ml.experiments import log_candidate

    try:
        task = load_genre_task(settings)
        trained = CANDIDATES[family](settings, task)
    except (NotEnoughData, ModelUnavailable) as exc:
        return skipped(stage, "", str(exc), run_id=run_id, settings=settings)
    logged = [log_candidate(result, settings, tags=tags) for result in trained.results]
    detail = "; ".join(f"{c.candidate} v{c.version} {c.metric}={c.score:.3f}" for c in logged)
    outcome = StageOutcome(stage, "", "ok", detail, n_ok=len(logged), n_failed=len(trained.failures))
    finish_stage(settings, outcome, [], trained.failures, run_id=run_id)
    metadata: dict[str, object] = {
        "summary": "\n".join([*task.notes(),
                              *(f"{c.candidate}: v{c.version}, {c.metric} {c.score:.3f}" for c in logged),
                              *(f"skipped {why}" for why in trained.skipped)]),  # fmt: skip
        "split_hash": task.split.split_hash,
        "labels": list(task.taxonomy.labels),
        "failed_tracks": len(trained.failures),
    }
    for result, entry in zip(trained.results, logged, strict=True):
        metadata[f"{result.candidate} {entry.metric}"] = round(entry.score, 4)
        metadata[f"{result.candidate} train_s"] = round(result.train_seconds, 2)
        metadata[f"{result.candidate} version"] = entry.version
    if logged:
        metadata["mlflow_run_id"] = logged[-1].run_id
    # Each training registers new versions: new data for the champion choice downstream.
    version = ",".join(f"{c.name}@{c.version}" for c in logged)
    return StageReport(outcome, metadata, trained.failures, data_version=version)


@records_failure(STAGE, partitioned=False)
def select_champion(settings: MelodexSettings, *, run_id: str | None = None) -> StageReport:
    """The `champion` alias to the best version scored on the current split (melodex_ml.registry)."""
    from melodex_ml import registry

    try:
        task = load_genre_task(settings)
        decision = registry.promote_champion(settings, GENRE, split_hash=task.split.split_hash)
    except NotEnoughData as exc:
        return skipped(STAGE, "", str(exc), run_id=run_id, settings=settings)
    except LookupError as exc:  # no candidate has been scored on this split yet
        return skipped(STAGE, "", str(exc), run_id=run_id, settings=settings)
    if decision.champion is None:
        return skipped(STAGE, "", decision.reason, run_id=run_id, settings=settings)
    rows = registry.compare_candidates(settings, GENRE, split_hash=task.split.split_hash)
    outcome = StageOutcome(STAGE, "", "ok", f"{decision.name} v{decision.champion}: {decision.reason}", n_ok=len(rows))
    finish_stage(settings, outcome, [], [], run_id=run_id)
    champion = next((r for r in rows if r.champion), None)
    return StageReport(
        outcome,
        {"summary": registry.format_comparison(rows), "decision": decision.reason, "moved": decision.moved,
         "champion_version": decision.champion, "split_hash": task.split.split_hash,
         "champion_candidate": champion.candidate if champion else "",
         "mlflow_run_id": champion.run_id if champion else None},  # fmt: skip
        # Inference reads the champion only: a choice that keeps it is nothing new downstream.
        data_version=f"{decision.name}@{decision.champion}",
    )
