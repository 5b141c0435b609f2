"""Train the genre classifier on every stored segment; predict a batch's segments to JSONL."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

import numpy as np

from melodex_ml import tracking
from melodex_ml.bookkeeping import StageOutcome
from melodex_ml.inference.genre import predict_segments, write_jsonl
from melodex_ml.settings import MelodexSettings
from melodex_ml.stages.common import StageReport, batch_tracks, finish_stage, records_failure, skipped
from melodex_ml.store import connect
from melodex_ml.training.dataset import load_segment_dataset
from melodex_ml.training.genre import GenreTrainingConfig, NotEnoughData, train_genre_classifier

MODELS_STAGE = "models"
INFERENCE_STAGE = "inference"


@records_failure(MODELS_STAGE, partitioned=False)
def train_and_register(
    settings: MelodexSettings,
    *,
    start_run: Callable[[str], AbstractContextManager] | None = None,
    config: GenreTrainingConfig | None = None,
    run_id: str | None = None,
) -> StageReport:
    config = config or GenreTrainingConfig(seed=settings.seed)
    with connect(settings.duckdb_path, read_only=True) as con:
        data = load_segment_dataset(con)
    try:
        trained = train_genre_classifier(data, config)
    except NotEnoughData as exc:
        return skipped(MODELS_STAGE, "", f"not enough labeled data: {exc}", run_id=run_id, settings=settings)
    start_run = start_run or (lambda name: tracking.start_run(settings, name))
    with start_run("genre-classifier"):
        registered = tracking.log_genre_model(
            trained,
            settings,
            params={**vars(config), "model": "logistic_regression", "n_features": len(trained.feature_names)},
            example=data.labeled().features[:5],
        )
    detail = f"{registered.name} v{registered.version}" + (" (champion)" if registered.is_champion else "")
    outcome = StageOutcome(MODELS_STAGE, "", "ok", detail, n_ok=int(trained.metrics["n_fit_tracks"]))
    finish_stage(settings, outcome, [], [], run_id=run_id)
    return StageReport(
        outcome,
        {
            **{k: round(v, 4) for k, v in trained.metrics.items()},
            "registered_model": registered.name,
            "model_version": registered.version,
            "champion": registered.is_champion,
            "mlflow_run_id": registered.run_id,
        },
        # Inference reads the champion only: a retrain that does not replace it is nothing new downstream.
        data_version=tracking.champion_identity(settings),
    )


@records_failure(INFERENCE_STAGE)
def predict_batch(settings: MelodexSettings, batch_id: str, *, run_id: str | None = None) -> StageReport:
    try:
        model = tracking.load_genre_model(settings)
    except tracking.NoRegisteredModel as exc:
        return skipped(INFERENCE_STAGE, batch_id, str(exc), run_id=run_id, settings=settings)
    with connect(settings.duckdb_path, read_only=True) as con:
        tracks = batch_tracks(con, batch_id)
        data = load_segment_dataset(con, track_ids=[t.track_id for t in tracks], feature_names=model.feature_names)
    predictions = predict_segments(model, data, {t.track_id: t.display_path for t in tracks})
    path = settings.predictions_dir / f"{batch_id}.jsonl"
    written = write_jsonl(predictions, path)
    # Tracks without stored segments failed an earlier stage; that failure is already recorded there.
    missing = len(tracks) - len(np.unique(data.track_ids))
    detail = f"{path} ({model.name} v{model.version}); {missing} track(s) had no features"
    outcome = StageOutcome(INFERENCE_STAGE, batch_id, "ok", detail, n_ok=written)
    with connect(settings.duckdb_path) as con:
        # The JSONL partitions stay the source of truth; the view makes them queryable with SQL.
        pattern = str(settings.predictions_dir / "*.jsonl").replace("'", "''")
        # Live tracks only, each from its newest partition file (batch ids sort by time).
        con.execute(
            "CREATE OR REPLACE VIEW genre_predictions AS SELECT p.* FROM "
            f"read_json('{pattern}', format = 'newline_delimited', filename = true) p "
            "SEMI JOIN live_tracks t ON t.track_id = p.track_id "
            "QUALIFY row_number() OVER (PARTITION BY p.track_id ORDER BY p.filename DESC) = 1"
        )
        finish_stage(settings, outcome, [], [], run_id=run_id, con=con)
    return StageReport(
        outcome,
        {"path": str(path), "tracks": written, "without_features": missing, "model_version": model.version},
    )
