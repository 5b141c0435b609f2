"""Audio-encoder embeddings of a scan batch: one HDF5 file per batch under MELODEX_HOME/embeddings/."""

from __future__ import annotations

from melodex_ml.bookkeeping import StageOutcome
from melodex_ml.embeddings.audio import AudioEncoder, embed_tracks
from melodex_ml.embeddings.hdf5 import write_embeddings
from melodex_ml.models.cache import ModelCache, ModelUnavailable
from melodex_ml.settings import MelodexSettings
from melodex_ml.stages.common import StageReport, decode_samples, finish_stage, load_batch, skipped

STAGE = "embeddings"


def embed_batch(
    settings: MelodexSettings, batch_id: str, *, cache: ModelCache, device: str, run_id: str | None = None
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
         "failed": len(result.failures), "model": encoder.config.model_id, "device": device},
        result.failures,
    )
