"""Text-to-music projection: MusiCNN audio embeddings and caption embeddings in one space.

Trained on the unified catalog's (clip, caption) pairs: the library's tracks with their synthesized
captions and every research-dataset clip with its human or model captions. Library tracks bring the
embeddings the embeddings stage stored; research clips are analysed here once (`catalog_embeddings`,
`catalog_tags`). The projection's held-out recall is compared with the zero-shot tag search's on the
very same held-out queries: the `champion` alias (which `melodex search` uses) goes to a projection
only when it retrieves better than zero-shot, and is taken away when a newer one does not.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from melodex_ml.bookkeeping import Failure, StageOutcome
from melodex_ml.models.cache import ModelCache, ModelUnavailable
from melodex_ml.settings import MelodexSettings
from melodex_ml.stages.common import StageReport, failure_recorded, finish_stage, skipped
from melodex_ml.store import connect, replace_tables
from melodex_ml.training.labels import NotEnoughData

STAGE = "models:projection"
AUDIO_MODEL = "msd-musicnn"


@dataclass(frozen=True)
class CatalogAudio:
    vectors: dict[str, np.ndarray]  # record id -> msd-musicnn track embedding
    tags: dict[str, dict[str, np.ndarray]]  # record id -> model -> tag probabilities (label order of the model)
    pairs: list[tuple[str, str]]  # (record id, caption), alternative captions included
    artists: dict[str, str]
    failures: list[Failure]


def catalog_audio(settings: MelodexSettings, *, cache: ModelCache, device: str | None) -> CatalogAudio:
    """Vectors and tags of every catalog record: library tracks from the store, other clips analysed
    with MusiCNN unless analysed before (same record, same file)."""
    from melodex_ml.embeddings.musicnn.specs import MODELS

    with connect(settings.duckdb_path, read_only=True) as con:
        records = con.execute(
            "SELECT id, dataset, source_id, audio_path, caption, alt_captions, coalesce(artist_key, '') "
            "FROM dataset_catalog ORDER BY id"
        ).fetchall()
        library = {source: record for record, dataset, source, *_ in records if dataset == "library"}
        vectors = _vectors(con, "SELECT track_id, embedding FROM track_embeddings WHERE model = ?", library)
        tags = _tags(con, "SELECT track_id, model, label, probability FROM track_tags", library)
        done = dict(con.execute(
            "SELECT record_id, audio_path FROM catalog_embeddings WHERE model = ?", [AUDIO_MODEL]
        ).fetchall())
    research = [(r, path) for r, dataset, _, path, *_ in records if dataset != "library" and done.get(r) != path]
    failures = _analyse(settings, research, cache=cache, device=device) if research else []
    with connect(settings.duckdb_path, read_only=True) as con:
        identity = {r: r for r, dataset, *_ in records if dataset != "library"}
        vectors |= _vectors(con, "SELECT record_id, embedding FROM catalog_embeddings WHERE model = ?", identity)
        tags |= _tags(con, "SELECT record_id, model, label, probability FROM catalog_tags", identity)
    order = {name: {label: i for i, label in enumerate(spec.labels)} for name, spec in MODELS.items()}
    tag_arrays = {
        record: {model: _ordered(values, order[model]) for model, values in by_model.items()}
        for record, by_model in tags.items()
    }
    pairs = [(r, text) for r, _, _, _, caption, alts, _ in records for text in [caption, *(alts or [])] if text]
    return CatalogAudio(vectors, tag_arrays, pairs, {r: artist for r, *_, artist in records if artist}, failures)


def _vectors(con, query: str, ids: Mapping[str, str]) -> dict[str, np.ndarray]:
    rows = con.execute(query, [AUDIO_MODEL]).fetchall()
    return {ids[key]: np.asarray(vector, np.float32) for key, vector in rows if key in ids}


def _tags(con, query: str, ids: Mapping[str, str]) -> dict[str, dict[str, dict[str, float]]]:
    out: dict[str, dict[str, dict[str, float]]] = {}
    for key, model, label, probability in con.execute(query).fetchall():
        if key in ids:
            out.setdefault(ids[key], {}).setdefault(model, {})[label] = probability
    return out


def _ordered(values: Mapping[str, float], positions: Mapping[str, int]) -> np.ndarray:
    array = np.zeros(len(positions), np.float32)
    for label, probability in values.items():
        array[positions[label]] = probability
    return array


def _analyse(settings: MelodexSettings, clips: list[tuple[str, str]], *, cache: ModelCache, device: str | None) -> list[Failure]:
    from melodex_ml.embeddings.musicnn.tagger import MusicnnTagger

    tagger = MusicnnTagger.from_settings(settings, device=device, cache=cache, batch_size=settings.musicnn_batch_size,
                                         num_workers=settings.musicnn_workers)  # fmt: skip
    batch = tagger.analyse_tracks([(record, path) for record, path in clips], stage=STAGE)
    paths = dict(clips)
    embeddings, tags = [], []
    for result in batch.results:
        for model, output in result.outputs.items():
            embeddings.append({"record_id": result.key, "model": model, "embedding": output.embedding.tolist(),
                               "audio_path": paths[result.key]})  # fmt: skip
            tags += [{"record_id": result.key, "model": model, "label": label, "probability": float(p)}
                     for label, p in zip(output.labels, output.tags, strict=True)]  # fmt: skip
    with connect(settings.duckdb_path) as con:
        replace_tables(con, {"catalog_embeddings": embeddings, "catalog_tags": tags}, "record_id",
                       [record for record, _ in clips])  # fmt: skip
    return batch.failures


def zero_shot_retrieval(result, pairs, tags: Mapping[str, Mapping[str, np.ndarray]], text_encoder):
    """The zero-shot tag search scored on the projection's own held-out queries and tracks."""
    from melodex_ml.search.text_search import match_tags
    from melodex_ml.search.vocabulary import TagVocabulary
    from melodex_ml.training.projection import retrieval_metrics

    test = list(result.test_track_ids)
    vocabulary = TagVocabulary.build(text_encoder.encode)
    models = vocabulary.sources()
    matrix = vocabulary.track_matrix({m: np.stack([tags.get(t, {}).get(m, _zeros(m)) for t in test]) for m in models})
    column = {t: j for j, t in enumerate(test)}
    queries = [(t, caption) for t, caption in pairs if t in column]
    encoded = text_encoder.encode([caption for _, caption in queries])
    similarity = np.zeros((len(queries), len(test)), np.float32)
    for i, vector in enumerate(encoded):
        for match in match_tags(vector, vocabulary):
            similarity[i] += match.weight * matrix[:, match.column]
    return retrieval_metrics(similarity, [column[t] for t, _ in queries])


def _zeros(model: str) -> np.ndarray:
    from melodex_ml.embeddings.musicnn.specs import MODELS

    return np.zeros(len(MODELS[model].labels), np.float32)


def train_text_projection(
    settings: MelodexSettings, *, cache: ModelCache, device: str | None = None,
    tags: Mapping[str, str] | None = None, run_id: str | None = None,
) -> StageReport:  # fmt: skip
    with failure_recorded(settings, STAGE, "", run_id=run_id):
        return _train(settings, cache, device, tags or {}, run_id)


def _train(settings, cache, device, tags, run_id) -> StageReport:
    from melodex_ml import experiments, registry
    from melodex_ml.embeddings.text import TextEncoder
    from melodex_ml.training.projection import ProjectionConfig, train_projection

    try:
        data = catalog_audio(settings, cache=cache, device=device)
        text = TextEncoder.load(settings, device=device, cache=cache)
        result = train_projection(data.vectors, data.pairs, text, audio_encoder=AUDIO_MODEL, artists=data.artists,
                                  config=ProjectionConfig(seed=settings.seed))  # fmt: skip
    except (NotEnoughData, ModelUnavailable) as exc:
        return skipped(STAGE, "", str(exc), run_id=run_id, settings=settings)
    zero_shot = zero_shot_retrieval(result, data.pairs, data.tags, text)
    logged = experiments.log_projection(result, settings, tags=tags,
                                        extra_metrics={f"zero_shot_{k}": v for k, v in zero_shot.metrics().items()})  # fmt: skip
    better = result.retrieval.recall_at_10 > zero_shot.recall_at_10
    decision = registry.set_projection_champion(settings, logged.version if better else None)
    outcome = StageOutcome(STAGE, "", "ok", decision, n_ok=result.counts["n_tracks"], n_failed=len(data.failures))
    finish_stage(settings, outcome, [], data.failures, run_id=run_id)
    return StageReport(
        outcome,
        {"summary": decision, "recall_at_10": round(result.retrieval.recall_at_10, 4),
         "zero_shot_recall_at_10": round(zero_shot.recall_at_10, 4), "median_rank": result.retrieval.median_rank,
         "zero_shot_median_rank": zero_shot.median_rank, "test_queries": result.retrieval.n_queries,
         "test_tracks": result.retrieval.n_tracks, "pairs": len(data.pairs), "version": logged.version,
         "used_by_search": better, "mlflow_run_id": logged.run_id},  # fmt: skip
        data.failures,
        data_version=f"{logged.name}@{logged.version}",
    )
