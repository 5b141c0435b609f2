"""Genre predictions of a scan batch from the champion model, one JSONL file per batch.

Whatever candidate won, the champion is a GenreModel that says what it reads: segment
descriptors (`segment_features`), a stored encoder's segment embeddings, or the audio itself
(MFCC windows or waveforms, computed here from the files). Each track's segments are predicted,
its global prediction is the mean of its segments', and the track embedding is the model's.
"""

from __future__ import annotations

import numpy as np

from melodex_ml import tracking
from melodex_ml.bookkeeping import Failure, StageOutcome
from melodex_ml.settings import MelodexSettings
from melodex_ml.stages.common import BatchTrack, StageReport, batch_tracks, finish_stage, records_failure, skipped
from melodex_ml.store import connect

STAGE = "inference"


def segment_inputs(model, settings: MelodexSettings, tracks: list[BatchTrack]):
    """The champion's inputs for ``tracks``: (track ids, segment index, start s, end s, inputs, failures)."""
    from melodex_ml.models.genre_model import AUDIO_KINDS, DESCRIPTORS

    ids = [t.track_id for t in tracks]
    if model.input_kind == DESCRIPTORS:
        from melodex_ml.training.dataset import load_segment_dataset

        with connect(settings.duckdb_path, read_only=True) as con:
            data = load_segment_dataset(con, track_ids=ids, feature_names=list(model.card.input_names))
        return data.track_ids, data.segment_index, data.start_s, data.end_s, data.features, []
    if model.input_kind.startswith("embedding:"):
        from melodex_ml.embeddings.store import read_encoder_embeddings

        encoder = model.input_kind.partition(":")[2]
        vectors = read_encoder_embeddings(settings, encoder, track_ids=ids)
        if vectors.segments is None:
            raise ValueError(f"{encoder} embeddings hold no segment vectors")
        owner = np.asarray(vectors.track_ids, dtype=str)[vectors.segment_track_index]
        index = np.concatenate([np.arange(n) for n in np.bincount(vectors.segment_track_index, minlength=len(vectors))])
        return owner, index, vectors.segment_start_s, vectors.segment_end_s, vectors.segments, []
    if model.input_kind in AUDIO_KINDS:
        from melodex_ml.training.audio_segments import prepare_tracks

        prepared = prepare_tracks({t.track_id: t.path for t in tracks}, model.prepare,
                                  sample_rate=model.card.sample_rate, segment_seconds=model.card.segment_seconds)  # fmt: skip
        return prepared.track_ids, prepared.segment_index, prepared.start_s, prepared.end_s, prepared.inputs, \
            [Failure(STAGE, f.item, f.error_type, f.message, f.path) for f in prepared.failures]
    raise ValueError(f"the champion reads {model.input_kind!r}, which inference cannot provide")


@records_failure(STAGE)
def predict_batch(settings: MelodexSettings, batch_id: str, *, run_id: str | None = None) -> StageReport:
    from melodex_ml import experiments
    from melodex_ml.inference.genre import predictions_of, write_jsonl
    from melodex_ml.inference.views import create_prediction_views

    try:
        champion = experiments.load_champion(settings)
    except tracking.NoRegisteredModel as exc:
        return skipped(STAGE, batch_id, str(exc), run_id=run_id, settings=settings)
    with connect(settings.duckdb_path, read_only=True) as con:
        tracks = batch_tracks(con, batch_id)
    owner, index, start, end, inputs, failures = segment_inputs(champion.model, settings, tracks)
    predictions = predictions_of(champion, owner, index, start, end, inputs, {t.track_id: t.display_path for t in tracks})
    path = settings.predictions_dir / f"{batch_id}.jsonl"
    written = write_jsonl(predictions, path)
    # Tracks without inputs (no features) failed an earlier stage; that failure is recorded there.
    missing = len(tracks) - written - len(failures)
    detail = f"{path} ({champion.name} v{champion.version}, {champion.candidate}); {missing} track(s) had no inputs"
    outcome = StageOutcome.of(STAGE, batch_id, n_ok=written, n_failed=len(failures), detail=detail)
    with connect(settings.duckdb_path) as con:
        # The JSONL partitions stay the source of truth; the views make them queryable with SQL.
        create_prediction_views(con, settings.predictions_dir)
        finish_stage(settings, outcome, [t.track_id for t in tracks], failures, run_id=run_id, con=con)
    return StageReport(
        outcome,
        {"predictions_path": str(path), "tracks": written, "row_count": written, "without_inputs": missing,
         "failed": len(failures), "model_version": champion.version, "model_candidate": champion.candidate,
         "mlflow_run_id": champion.run_id},  # fmt: skip
        failures,
    )
