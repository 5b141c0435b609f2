"""Embeddings in HDF5 under MELODEX_HOME/embeddings/: audio per scan batch, captions of the catalog."""

from __future__ import annotations

from melodex_ml.bookkeeping import StageOutcome
from melodex_ml.embeddings.audio import AudioEncoder, embed_tracks
from melodex_ml.embeddings.hdf5 import TrackEmbedding, write_embeddings
from melodex_ml.embeddings.text import TextEncoder
from melodex_ml.models.cache import ModelCache, ModelUnavailable
from melodex_ml.settings import MelodexSettings
from melodex_ml.stages.common import StageReport, decode_samples, finish_stage, load_batch, records_failure, skipped
from melodex_ml.store import connect

STAGE = "embeddings"
CAPTION_STAGE = "caption_embeddings"


@records_failure(STAGE)
def embed_batch(
    settings: MelodexSettings, batch_id: str, *, cache: ModelCache, device: str | None = None, run_id: str | None = None
) -> StageReport:
    try:
        encoder = AudioEncoder.from_settings(settings, device=device, cache=cache)
    except ModelUnavailable as exc:
        return skipped(STAGE, batch_id, str(exc), run_id=run_id, settings=settings)
    tracks = load_batch(settings, batch_id)
    result = embed_tracks(encoder, [(t.track_id, t.path) for t in tracks], load=decode_samples)
    path = write_embeddings(
        settings.embeddings_dir, batch_id, result.embeddings,
        model_id=encoder.config.model_id, pooling=encoder.config.pooling, attrs={"batch_id": batch_id},
    )
    outcome = StageOutcome.of(STAGE, batch_id, n_ok=len(result.embeddings), n_failed=len(result.failures),
                              detail=str(path))
    finish_stage(settings, outcome, [t.track_id for t in tracks], result.failures, run_id=run_id)
    return StageReport(
        outcome,
        {"status": outcome.status, "path": str(path), "tracks": len(result.embeddings),
         "failed": len(result.failures), "model": encoder.config.model_id, "device": encoder.device},
        result.failures,
    )


CAPTIONS_FILE = "captions"


@records_failure(CAPTION_STAGE, partitioned=False)
def embed_catalog_captions(
    settings: MelodexSettings, *, cache: ModelCache, device: str | None = None, run_id: str | None = None
) -> StageReport:
    """Caption text embeddings of every dataset_catalog record (id order), for text-to-audio models."""
    try:
        encoder = TextEncoder.load(settings, device=device, cache=cache)
    except ModelUnavailable as exc:
        return skipped(CAPTION_STAGE, "", str(exc), run_id=run_id, settings=settings)
    with connect(settings.duckdb_path, read_only=True) as con:
        rows = con.execute("SELECT id, caption FROM dataset_catalog ORDER BY id").fetchall()
    vectors = encoder.encode([caption for _, caption in rows])
    path = write_embeddings(
        settings.embeddings_dir, CAPTIONS_FILE,
        [TrackEmbedding(record_id, vector) for (record_id, _), vector in zip(rows, vectors, strict=True)],
        model_id=encoder.model_id, pooling="mean-normalized",
    )
    outcome = StageOutcome.of(CAPTION_STAGE, "", n_ok=len(rows), n_failed=0, detail=str(path))
    finish_stage(settings, outcome, [], [], run_id=run_id)
    return StageReport(outcome, {"path": str(path), "captions": len(rows), "dim": encoder.dim, "model": encoder.model_id})
