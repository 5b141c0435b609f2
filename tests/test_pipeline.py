"""The whole asset graph materialized with Dagster on a small generated library, then rescanned."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import dagster as dg
import pytest
import soundfile as sf
from tiny_models import save_demucs_repo, save_tiny_encoder, tiny_htdemucs

from melodex_ml import tracking
from melodex_ml.demo import STYLES, generate_demo_library
from melodex_ml.embeddings.hdf5 import read_embeddings
from melodex_ml.settings import get_settings
from melodex_ml.store import connect

pytestmark = pytest.mark.slow


@pytest.fixture
def library(tmp_path, melodex_home, monkeypatch):
    root = tmp_path / "library"
    # Two tracks per style (the classifier holds out one artist per style), plus broken files.
    truth = generate_demo_library(root, n_tracks=2 * len(STYLES), seed=3, duration_range=(20.0, 21.0), with_defects=True)
    monkeypatch.setenv("MELODEX_LIBRARY_ROOTS", str(root))
    return root, truth


def query(sql: str, *params):
    with connect(get_settings().duckdb_path, read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def documented_queries() -> dict[str, str]:
    text = (Path(__file__).resolve().parent.parent / "sql" / "queries.sql").read_text()
    blocks = re.split(r"^-- name: ", text, flags=re.MULTILINE)[1:]
    return {name.strip(): body for name, _, body in (block.partition("\n") for block in blocks)}


def test_demo_graph_end_to_end_and_incremental_rescan(library):
    from dagster_project.instance import ensure_instance
    from dagster_project.runner import materialize_all

    root, truth = library
    settings = get_settings()
    # A copy under a folder and file name that are not valid UTF-8 is analysed like any other file.
    odd_folder = root / os.fsdecode(b"caf\xe9 o'neil")
    odd_folder.mkdir()
    odd_name = odd_folder / (os.fsdecode(b"\xff, \"q\"") + Path(truth[2].path).suffix)
    shutil.copyfile(root / truth[2].path, odd_name)
    analysed = len(truth) + 1
    first = materialize_all(echo=lambda _: None)
    assert first.ok, first.failed_runs
    assert len(first.processed_batches) == 1 and first.trained
    assert first.predicted_batches == first.processed_batches

    # catalog: every generated track is live with its tags; broken files are recorded failures
    live = dict(query("SELECT path, title FROM live_tracks"))
    for track in truth:
        assert live[str(root / track.path)] == track.title
    scan_failures = {row[0] for row in query("SELECT error_type FROM failures WHERE stage = 'scan'")}
    assert {"EmptyFile", "InvalidAudio"} <= scan_failures

    # features: one row per decodable track, never duplicated; the truncated file is a failure
    assert query("SELECT count(*), count(DISTINCT track_id) FROM features") == [(analysed, analysed)]
    assert query("SELECT count(*) FROM failures WHERE stage = 'features'") == [(1,)]

    # stages without offline weights are skipped with the reason, not faked
    skipped = dict(query("SELECT stage, detail FROM stage_runs WHERE status = 'skipped'"))
    assert "MELODEX_DEMUCS_REPO" in skipped["stems"]
    assert "MELODEX_AUDIO_ENCODER" in skipped["embeddings"]

    # models: a registered champion with metrics, tagged with its Dagster run
    version = tracking.champion_version(settings)
    assert version == "1"
    from mlflow import MlflowClient

    model_version = MlflowClient().get_model_version_by_alias(settings.genre_model_name, "champion")
    run = MlflowClient().get_run(model_version.run_id)
    assert 0.0 <= run.data.metrics["track_accuracy"] <= 1.0
    assert run.data.tags["dagster.asset"] == "genre_classifier" and run.data.tags["dagster.run_id"]

    # inference: one JSONL line per track with features, labels from the library's genres
    (batch,) = first.processed_batches
    lines = (settings.predictions_dir / f"{batch}.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == analysed
    assert {label for r in records for label in r["global_prediction"]["all_probabilities"]} == set(STYLES)
    assert all(r["segments"] and r["model"]["version"] == version for r in records)

    # captions of the catalog are embedded with the bundled sentence encoder
    captions = read_embeddings(settings.embeddings_dir / "captions.h5")
    assert len(captions) == query("SELECT count(*) FROM dataset_catalog")[0][0] > 0

    # Dagster saw every asset materialize
    instance = ensure_instance(settings)
    for asset in ("library_tracks", "dataset_catalog", "caption_embeddings", "genre_classifier"):
        assert instance.get_latest_materialization_event(dg.AssetKey(asset)) is not None, asset
    for asset in ("track_stems", "track_features", "track_embeddings", "genre_predictions"):
        assert instance.get_materialized_partitions(dg.AssetKey(asset)) == {batch}, asset

    # every documented query in sql/queries.sql runs on the store
    queries = documented_queries()
    assert len(queries) >= 8
    results = {name: query(sql) for name, sql in queries.items()}
    assert sum(row[1] for row in results["library_overview"]) == len(live)
    assert len(results["tempo_and_key"]) == analysed
    assert {row[0] for row in results["catalog_splits"]} == {"library"}

    # an unchanged library: nothing to process, nothing duplicated
    second = materialize_all(echo=lambda _: None)
    assert second.ok and not second.processed_batches and not second.trained
    assert query("SELECT count(*) FROM features") == [(analysed,)]

    # move one file, delete another: the move keeps its id and results, the deletion is retired
    moved, deleted = truth[0], truth[1]
    moved_id = query("SELECT track_id FROM live_tracks WHERE path = ?", str(root / moved.path))[0][0]
    deleted_id = query("SELECT track_id FROM live_tracks WHERE path = ?", str(root / deleted.path))[0][0]
    (root / "moved").mkdir()
    shutil.move(root / moved.path, root / "moved" / f"renamed{(root / moved.path).suffix}")
    (root / deleted.path).unlink()
    third = materialize_all(echo=lambda _: None)
    assert third.ok and not third.processed_batches
    assert query("SELECT path FROM live_tracks WHERE track_id = ?", moved_id)[0][0].startswith(str(root / "moved"))
    assert query("SELECT count(*) FROM features WHERE track_id = ?", moved_id) == [(1,)]
    assert query("SELECT count(*) FROM tracks WHERE retired_at IS NOT NULL") == [(1,)]

    # new audio in an existing file: recomputed in a new batch, served once, never duplicated
    changed = truth[4]
    changed_id = query("SELECT track_id FROM live_tracks WHERE path = ?", str(root / changed.path))[0][0]
    audio, rate = sf.read(root / changed.path)
    sf.write(root / changed.path, audio[: len(audio) // 2], rate)
    fourth = materialize_all(echo=lambda _: None)
    assert fourth.ok and len(fourth.processed_batches) == 1
    assert query("SELECT duration_s FROM features WHERE track_id = ?", changed_id)[0][0] == pytest.approx(
        changed.duration_s / 2, abs=0.1
    )
    served = query("SELECT track_id, count(*) FROM genre_predictions GROUP BY ALL HAVING count(*) > 1")
    assert served == []
    assert query("SELECT count(*) FROM genre_predictions") == query(
        "SELECT count(*) FROM live_tracks WHERE track_id IN (SELECT track_id FROM features)"
    )
    assert query("SELECT count(*) FROM audio_features WHERE track_id = ?", deleted_id) == [(0,)]


def test_model_stages_run_through_dagster_with_local_weights(tmp_path, melodex_home, monkeypatch):
    """With (tiny) local Demucs and encoder weights the stem and embedding assets really run."""
    from dagster_project.definitions import build_definitions
    from dagster_project.instance import ensure_instance

    root = tmp_path / "library"
    truth = generate_demo_library(root, n_tracks=2, seed=5, duration_range=(20.0, 20.5))
    monkeypatch.setenv("MELODEX_LIBRARY_ROOTS", str(root))
    monkeypatch.setenv("MELODEX_DEMUCS_MODEL", "tiny")
    monkeypatch.setenv("MELODEX_DEMUCS_REPO", str(save_demucs_repo(tmp_path / "demucs", tiny_htdemucs())))
    monkeypatch.setenv("MELODEX_AUDIO_ENCODER", str(save_tiny_encoder(tmp_path / "encoder")))
    settings = get_settings()
    instance = ensure_instance(settings)
    defs = build_definitions()
    assert defs.resolve_job_def("library_scan_job").execute_in_process(instance=instance).success
    (batch,) = instance.get_dynamic_partitions("scan_batches")
    # the job exactly as scan_batch_sensor launches it
    result = defs.resolve_job_def("process_scan_batch_job").execute_in_process(instance=instance, partition_key=batch)
    assert result.success
    assert {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()} == {
        "track_stems", "track_features", "track_embeddings", "genre_predictions"
    }
    ids = [row[0] for row in query("SELECT track_id FROM live_tracks ORDER BY track_id")]
    for track_id in ids:
        assert sorted(p.stem for p in (settings.stems_dir / track_id).glob("*.flac")) == sorted(
            ["drums", "bass", "other", "vocals"]
        )
    embeddings = read_embeddings(settings.embeddings_dir / f"{batch}.h5")
    assert sorted(embeddings.track_ids) == ids and len(ids) == len(truth)
    assert dict(query("SELECT stage, status FROM stage_runs")) == {
        "scan": "ok", "stems": "ok", "features": "ok", "embeddings": "ok", "inference": "skipped"  # no model yet
    }
