"""Embeddings of a scan batch: MusiCNN tags and vectors (default, offline), a configured transformer
encoder's vectors, and the catalog's caption embeddings.

MusiCNN results go to DuckDB (`track_embeddings`, `segment_embeddings`, `track_tags`,
`segment_tags`), written as they arrive in chunks, and to HDF5 (`embeddings/<model>/<batch>.h5`,
written once per batch, atomically). A transformer encoder writes `embeddings/<name>/<batch>.h5`.
"""

from __future__ import annotations

from pathlib import Path

from melodex_ml.bookkeeping import Failure, StageOutcome
from melodex_ml.embeddings.hdf5 import TrackEmbedding, write_embeddings
from melodex_ml.embeddings.store import encoder_dir, encoder_folder_name
from melodex_ml.models.cache import ModelCache, ModelUnavailable
from melodex_ml.settings import MelodexSettings
from melodex_ml.stages.common import (
    StageReport,
    decode_samples,
    finish_stage,
    load_batch,
    records_failure,
    skipped,
)
from melodex_ml.store import connect, replace_tables

STAGE = "embeddings"
ENCODER_STAGE = "encoder_embeddings"
CAPTION_STAGE = "caption_embeddings"
CAPTIONS_FILE = "captions"
# MusiCNN rows are written every this many tracks: a crash loses at most one chunk of work, and a
# re-run replaces rows by track_id, so nothing is duplicated.
WRITE_EVERY = 25


@records_failure(STAGE)
def embed_batch(
    settings: MelodexSettings, batch_id: str, *, cache: ModelCache, device: str | None = None, run_id: str | None = None
) -> StageReport:
    """MusiCNN (msd-musicnn and mtt-musicnn) on every track of the batch: one decode, both networks."""
    from melodex_ml.embeddings.musicnn.records import MusicnnResult
    from melodex_ml.embeddings.musicnn.tables import TABLES, result_rows
    from melodex_ml.embeddings.musicnn.tagger import MusicnnTagger

    try:
        tagger = MusicnnTagger.from_settings(
            settings, device=device, cache=cache,
            batch_size=settings.musicnn_batch_size, num_workers=settings.musicnn_workers,
        )  # fmt: skip
    except ModelUnavailable as exc:
        return skipped(STAGE, batch_id, str(exc), run_id=run_id, settings=settings)
    tracks = load_batch(settings, batch_id)
    shown = {t.track_id: t.display_path for t in tracks}
    from melodex_ml.embeddings.musicnn.patches import AudioSource, SourceFailed

    sources = [AudioSource(t.track_id, path=t.path) for t in tracks]
    results: list[MusicnnResult] = []
    failures: list[Failure] = []
    pending: list[MusicnnResult | Failure] = []

    def flush() -> None:
        rows: dict[str, list[dict]] = {table: [] for table in TABLES}
        ids = []
        for item in pending:
            ids.append(item.key if isinstance(item, MusicnnResult) else item.item)
            if isinstance(item, MusicnnResult):
                for table, table_rows in result_rows(item, item.key, batch_id).items():
                    rows[table] += table_rows
        chunk_failures = [f for f in pending if isinstance(f, Failure)]
        with connect(settings.duckdb_path) as con:
            # A failed track loses its old rows too: vectors of changed audio are not served.
            replace_tables(con, rows, "track_id", ids)
            outcome = StageOutcome.of(STAGE, batch_id, n_ok=len(results), n_failed=len(failures))
            finish_stage(settings, StageOutcome(STAGE, batch_id, "running", None, outcome.n_ok, outcome.n_failed),
                         ids, chunk_failures, run_id=run_id, con=con)  # fmt: skip
        pending.clear()

    for item in tagger.iter_sources(sources):
        if isinstance(item, SourceFailed):
            track = tracks[item.source]
            item = Failure(STAGE, track.track_id, item.error_type, item.message, shown[track.track_id])
            failures.append(item)
        else:
            results.append(item)
        pending.append(item)
        if len(pending) >= WRITE_EVERY:
            flush()
    flush()

    paths = []
    for network in tagger.networks:
        paths.append(write_embeddings(
            encoder_dir(settings, network.name), batch_id, [r.track_embedding(network.name) for r in results],
            model_id=network.name, pooling="mean over 3 s patches",
            attrs={"batch_id": batch_id, "checkpoint_sha256": network.checkpoint_sha256,
                   "layer": "model/dense/BiasAdd", "source": "musicnn 0.1.0 (ISC licence)"},
        ))  # fmt: skip
    outcome = StageOutcome.of(STAGE, batch_id, n_ok=len(results), n_failed=len(failures),
                              detail=", ".join(n.name for n in tagger.networks))  # fmt: skip
    finish_stage(settings, outcome, [], [], run_id=run_id)
    patches = sum(r.n_patches for r in results)
    return StageReport(
        outcome,
        {"status": outcome.status, "tracks": len(results), "row_count": len(results), "failed": len(failures),
         "patches": patches, "models": [n.name for n in tagger.networks], "device": tagger.device,
         "flagged": sum(bool(r.flags) for r in results), "embeddings_path": str(paths[0].parent.parent)},  # fmt: skip
        failures,
    )


@records_failure(ENCODER_STAGE)
def embed_encoder_batch(
    settings: MelodexSettings, batch_id: str, *, cache: ModelCache, device: str | None = None, run_id: str | None = None
) -> StageReport:
    """A configured transformer audio encoder (MERT, wav2vec2, HuBERT, AST ...), its own HDF5 per batch."""
    from melodex_ml.embeddings.audio import AudioEncoder, embed_tracks

    try:
        encoder = AudioEncoder.from_settings(settings, device=device, cache=cache)
    except ModelUnavailable as exc:
        return skipped(ENCODER_STAGE, batch_id, str(exc), run_id=run_id, settings=settings)
    tracks = load_batch(settings, batch_id)
    result = embed_tracks(encoder, [(t.track_id, t.path) for t in tracks], load=decode_samples)
    name = encoder_folder_name(encoder.config.model_id)
    path = write_embeddings(
        encoder_dir(settings, name), batch_id, result.embeddings,
        model_id=encoder.config.model_id, pooling=encoder.config.pooling, attrs={"batch_id": batch_id},
    )  # fmt: skip
    failures = [Failure(ENCODER_STAGE, f.item, f.error_type, f.message, f.path) for f in result.failures]
    outcome = StageOutcome.of(ENCODER_STAGE, batch_id, n_ok=len(result.embeddings), n_failed=len(failures),
                              detail=str(path))  # fmt: skip
    finish_stage(settings, outcome, [t.track_id for t in tracks], failures, run_id=run_id)
    return StageReport(
        outcome,
        {"status": outcome.status, "embeddings_path": str(path), "tracks": len(result.embeddings),
         "row_count": len(result.embeddings), "failed": len(failures), "model": encoder.config.model_id,
         "encoder": name, "device": encoder.device},  # fmt: skip
        failures,
    )


@records_failure(CAPTION_STAGE, partitioned=False)
def embed_catalog_captions(
    settings: MelodexSettings, *, cache: ModelCache, device: str | None = None, run_id: str | None = None
) -> StageReport:
    """Caption text embeddings of every dataset_catalog record (id order), for text-to-audio models."""
    from melodex_ml.embeddings.text import TextEncoder

    try:
        encoder = TextEncoder.load(settings, device=device, cache=cache)
    except ModelUnavailable as exc:
        return skipped(CAPTION_STAGE, "", str(exc), run_id=run_id, settings=settings)
    with connect(settings.duckdb_path, read_only=True) as con:
        rows = con.execute("SELECT id, caption FROM dataset_catalog ORDER BY id").fetchall()
    vectors = encoder.encode([caption for _, caption in rows])
    path: Path = write_embeddings(
        settings.embeddings_dir, CAPTIONS_FILE,
        [TrackEmbedding(record_id, vector) for (record_id, _), vector in zip(rows, vectors, strict=True)],
        model_id=encoder.model_id, pooling="mean-normalized",
    )  # fmt: skip
    outcome = StageOutcome.of(CAPTION_STAGE, "", n_ok=len(rows), n_failed=0, detail=str(path))
    finish_stage(settings, outcome, [], [], run_id=run_id)
    return StageReport(outcome, {"embeddings_path": str(path), "captions": len(rows), "row_count": len(rows),
                                 "dim": encoder.dim, "model": encoder.model_id})  # fmt: skip
