"""Demucs stems of a scan batch, written as FLAC under MELODEX_HOME/stems/<track_id>/."""

from __future__ import annotations

from melodex_ml.bookkeeping import StageOutcome
from melodex_ml.models.cache import ModelCache, ModelUnavailable
from melodex_ml.settings import MelodexSettings
from melodex_ml.stages.common import StageReport, decode_samples, finish_stage, load_batch, records_failure, skipped
from melodex_ml.stems import StemSeparator, separate_tracks

STAGE = "stems"


@records_failure(STAGE)
def separate_batch(
    settings: MelodexSettings, batch_id: str, *, cache: ModelCache, device: str | None = None, run_id: str | None = None
) -> StageReport:
    try:
        separator = StemSeparator.load(settings, cache=cache, device=device)
    except ModelUnavailable as exc:
        return skipped(STAGE, batch_id, str(exc), run_id=run_id, settings=settings)
    tracks = load_batch(settings, batch_id)
    result = separate_tracks(
        separator, [(t.track_id, t.path) for t in tracks], settings.stems_dir, load=decode_samples
    )
    outcome = StageOutcome.of(STAGE, batch_id, n_ok=len(result.written), n_failed=len(result.failures),
                              detail=f"{settings.demucs_model} on {separator.device}")
    finish_stage(settings, outcome, [t.track_id for t in tracks], result.failures, run_id=run_id)
    return StageReport(
        outcome,
        {"status": outcome.status, "tracks": len(result.written), "failed": len(result.failures),
         "stems_dir": str(settings.stems_dir), "model": settings.demucs_model, "device": separator.device},
        result.failures,
    )
