"""Genre predictions of a scan batch from the champion model, one JSONL file per batch.

Whatever candidate won, the champion is a GenreModel that says what it reads: segment
descriptors (`segment_features`), a stored encoder's segment embeddings or the MusiCNN segment
tags (`segment_tags`), read from the store, or the audio itself (MFCC windows, waveforms),
streamed from the files through an AudioSegmentDataset and a DataLoader. Each track's segments are predicted, its
global prediction is the mean of its segments', the track embedding is the model's, and the line
carries the track's top MusiCNN tags from the store. Lines are written as they come, into a
temporary file that replaces the partition's file only once complete.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from melodex_ml import tracking
from melodex_ml.bookkeeping import Failure, StageOutcome
from melodex_ml.inference.genre import TOP_TAGS, TrackPrediction
from melodex_ml.models.cache import ModelCache
from melodex_ml.settings import MelodexSettings
from melodex_ml.stages.common import BatchTrack, StageReport, batch_tracks, finish_stage, records_failure, skipped
from melodex_ml.store import connect

STAGE = "inference"


def stored_inputs(model, settings: MelodexSettings, track_ids: list[str]):
    """The champion's stored inputs for ``track_ids``: (track ids, segment index, start s, end s, inputs)."""
    from melodex_ml.models.genre_model import DESCRIPTORS, TAGS

    if model.input_kind == DESCRIPTORS:
        from melodex_ml.training.dataset import load_segment_dataset

        with connect(settings.duckdb_path, read_only=True) as con:
            data = load_segment_dataset(con, track_ids=track_ids, feature_names=list(model.card.input_names))
        return data.track_ids, data.segment_index, data.start_s, data.end_s, data.features
    if model.input_kind.startswith("embedding:"):
        from melodex_ml.embeddings.store import read_encoder_embeddings

        encoder = model.input_kind.partition(":")[2]
        vectors = read_encoder_embeddings(settings, encoder, track_ids=track_ids)
        if not len(vectors):  # every track of the chunk failed its embeddings (recorded there)
            return np.zeros(0, str), np.zeros(0, np.int64), np.zeros(0), np.zeros(0), np.zeros((0, 0), np.float32)
        if vectors.segments is None:
            raise ValueError(f"{encoder} embeddings hold no segment vectors")
        owner = np.asarray(vectors.track_ids, dtype=str)[vectors.segment_track_index]
        index = np.concatenate([np.arange(n) for n in np.bincount(vectors.segment_track_index, minlength=len(vectors))])
        return owner, index, vectors.segment_start_s, vectors.segment_end_s, vectors.segments
    if model.input_kind == TAGS:
        from melodex_ml.embeddings.segment_tags import read_segment_tags

        with connect(settings.duckdb_path, read_only=True) as con:
            tags = read_segment_tags(con, track_ids)
        return tags.track_ids, tags.segment_index, tags.start_s, tags.end_s, tags.values
    raise ValueError(f"the champion reads {model.input_kind!r}, which inference cannot provide")


def stored_top_tags(settings: MelodexSettings, track_ids: Sequence[str], k: int = TOP_TAGS) -> dict[str, dict]:
    """track id -> {MusiCNN model: [{label, probability}, ...]}, the ``k`` most probable tags of each."""
    with connect(settings.duckdb_path, read_only=True) as con:
        rows = con.execute(
            "SELECT track_id, model, label, probability FROM track_tags WHERE track_id IN (SELECT UNNEST(?)) "
            "QUALIFY row_number() OVER (PARTITION BY track_id, model ORDER BY probability DESC, label) <= ? "
            "ORDER BY track_id, model, probability DESC, label",
            [list(track_ids), k],
        ).fetchall()
    tags: dict[str, dict] = {}
    for track_id, model, label, probability in rows:
        entry = {"label": label, "probability": round(probability, 6)}
        tags.setdefault(track_id, {}).setdefault(model, []).append(entry)
    return tags


def batch_predictions(
    champion, settings: MelodexSettings, tracks: list[BatchTrack], failures: list[Failure], *, device: str = "cpu"
) -> Iterator[TrackPrediction]:
    """Each track's line, as it is ready; tracks whose files cannot be read are added to ``failures``."""
    from melodex_ml.inference.genre import predictions_of
    from melodex_ml.inference.stream import FileToPredict, LoaderOptions, PredictionFailure, feeder_for, predict_files
    from melodex_ml.models.genre_model import AUDIO_KINDS

    model = champion.model
    if model.input_kind in AUDIO_KINDS:
        files = [FileToPredict(t.track_id, t.path, t.display_path) for t in tracks]
        tags = stored_top_tags(settings, [t.track_id for t in tracks])
        options = LoaderOptions.from_settings(settings, device)
        for item in predict_files(champion, files, feeder_for(model, settings, device=device), options, tags=tags):
            if isinstance(item, PredictionFailure):
                failures.append(Failure(STAGE, item.key, item.error_type, item.message, item.path))
            else:
                yield item
        return
    # A batch's stored inputs are small (segments x a few hundred floats, at most MELODEX_BATCH_SIZE
    # tracks), and the embedding files are read whole: one read and one forward pass per batch.
    model.to(device)
    ids = [t.track_id for t in tracks]
    owner, index, starts, ends, inputs = stored_inputs(model, settings, ids)
    shown = {t.track_id: t.display_path for t in tracks}
    yield from predictions_of(champion, owner, index, starts, ends, inputs, shown, tags=stored_top_tags(settings, ids))


@records_failure(STAGE)
def predict_batch(
    settings: MelodexSettings, batch_id: str, *, run_id: str | None = None, cache: ModelCache | None = None,
    device: str = "cpu",
) -> StageReport:  # fmt: skip
    from melodex_ml import experiments
    from melodex_ml.inference.genre import write_jsonl
    from melodex_ml.inference.stream import inference_device
    from melodex_ml.inference.views import create_prediction_views

    try:
        champion = experiments.load_champion(settings, cache=cache)
    except tracking.NoRegisteredModel as exc:
        return skipped(STAGE, batch_id, str(exc), run_id=run_id, settings=settings)
    with connect(settings.duckdb_path, read_only=True) as con:
        tracks = batch_tracks(con, batch_id)
    failures: list[Failure] = []
    path = settings.predictions_dir / f"{batch_id}.jsonl"
    device = inference_device(device)
    written = write_jsonl(batch_predictions(champion, settings, tracks, failures, device=device), path)
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
         "mlflow_run_id": champion.run_id, "device": device},  # fmt: skip
        failures,
    )
