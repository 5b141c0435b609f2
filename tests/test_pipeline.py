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

from melodex_ml.demo import STYLES, generate_demo_library
from melodex_ml.embeddings.hdf5 import read_embeddings
from melodex_ml.embeddings.store import encoder_folder_name
from melodex_ml.settings import get_settings
from melodex_ml.store import connect

pytestmark = pytest.mark.slow


@pytest.fixture
def library(tmp_path, melodex_home, monkeypatch):
    root = tmp_path / "library"
    # Four tracks per style, every second one without its genre tag (what Melodex must predict),
    # plus broken files.
    truth = generate_demo_library(root, n_tracks=4 * len(STYLES), seed=3, duration_range=(20.0, 21.0),
                                  with_defects=True, untagged_every=2)  # fmt: skip
    monkeypatch.setenv("MELODEX_LIBRARY_ROOTS", str(root))
    return root, truth


def query(sql: str, *params):
    with connect(get_settings().duckdb_path, read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def run_all(settings=None, **kwargs):
    """`melodex run`, in-process: definitions and instance built from the settings of this moment."""
    from dagster_project.definitions import build_definitions
    from dagster_project.instance import ensure_instance
    from dagster_project.orchestrate import materialize_pending

    settings = settings or get_settings()
    return materialize_pending(build_definitions(settings), ensure_instance(settings), settings, echo=lambda _: None, **kwargs)


def documented_queries() -> dict[str, str]:
    text = (Path(__file__).resolve().parent.parent / "sql" / "queries.sql").read_text()
    blocks = re.split(r"^-- name: ", text, flags=re.MULTILINE)[1:]
    return {name.strip(): body for name, _, body in (block.partition("\n") for block in blocks)}


def test_demo_graph_end_to_end_and_incremental_rescan(library):
    from dagster_project.instance import ensure_instance

    root, truth = library
    settings = get_settings()
    # A copy under a folder and file name that are not valid UTF-8 is analysed like any other file.
    odd_folder = root / os.fsdecode(b"caf\xe9 o'neil")
    odd_folder.mkdir()
    odd_name = odd_folder / (os.fsdecode(b"\xff, \"q\"") + Path(truth[2].path).suffix)
    shutil.copyfile(root / truth[2].path, odd_name)
    analysed = len(truth) + 1
    first = run_all()
    assert first.ok, first.failed
    batches = first.materialized("track_features")
    assert len(batches) == 1 and first.materialized("genre_classifier") == [None]
    assert first.materialized("genre_predictions") == batches

    # catalog: every generated track is live with its tags; broken files are recorded failures
    live = dict(query("SELECT path, title FROM live_tracks"))
    for track in truth:
        assert live[str(root / track.path)] == track.title
    scan_failures = {row[0] for row in query("SELECT error_type FROM failures WHERE stage = 'scan'")}
    assert {"EmptyFile", "InvalidAudio"} <= scan_failures

    # features: one row per decodable track, never duplicated; the truncated file is a failure
    assert query("SELECT count(*), count(DISTINCT track_id) FROM features") == [(analysed, analysed)]
    assert query("SELECT count(*) FROM failures WHERE stage = 'features'") == [(1,)]

    # stages without offline weights are skipped with the reason, not faked, and not materialized
    skipped = dict(query("SELECT stage, detail FROM stage_runs WHERE status = 'skipped'"))
    assert "MELODEX_DEMUCS_REPO" in skipped["stems"]
    assert "MELODEX_AUDIO_ENCODER" in skipped["encoder_embeddings"]
    instance = ensure_instance(settings)
    for asset, reason in (("track_stems", "MELODEX_DEMUCS_REPO"), ("track_encoder_embeddings", "MELODEX_AUDIO_ENCODER")):
        assert instance.get_materialized_partitions(dg.AssetKey(asset)) == set(), asset
        (observation,) = instance.fetch_observations(dg.AssetKey(asset), limit=5).records
        assert reason in observation.asset_observation.metadata["skipped"].value

    # embeddings: MusiCNN runs offline, both networks, every analysed track, in DuckDB and HDF5
    assert query("SELECT model, count(DISTINCT track_id), count(*) FROM track_embeddings GROUP BY ALL ORDER BY 1") == [
        ("msd-musicnn", analysed, analysed), ("mtt-musicnn", analysed, analysed)
    ]
    assert query("SELECT count(*) FROM track_tags") == [(analysed * 100,)]
    assert query("SELECT count(*) FROM top_track_tags WHERE model = 'mtt-musicnn'") == [(analysed * 5,)]
    assert query("SELECT count(*) FROM segment_embeddings") == query("SELECT 2 * count(*) FROM segment_features")
    for model in ("msd-musicnn", "mtt-musicnn"):
        stored = read_embeddings(settings.embeddings_dir / model / f"{batches[0]}.h5")
        assert len(stored) == analysed and stored.track.shape == (analysed, 200)
        assert stored.attrs["layer"] == "model/dense/BiasAdd" and len(stored.attrs["checkpoint_sha256"]) == 64
    assert query("SELECT count(*) FROM audio_features WHERE instrumentalness IS NULL OR acousticness IS NULL") == [(0,)]

    # models: every candidate that could train is registered and scored on one split; a champion
    from mlflow import MlflowClient

    from melodex_ml import registry
    from melodex_assets.automation import CANDIDATES

    champion = registry.champion_score(settings)
    rows = registry.compare_candidates(settings)
    assert {r.candidate for r in rows} >= {"descriptor-logreg", "mfcc-cnn", "probe-logreg:msd-musicnn:segment",
                                           "probe-mlp:mtt-musicnn:segment", "zero-shot-tags"}
    assert len({r.split_hash for r in rows}) == 1 and champion.split_hash == rows[0].split_hash
    assert champion.score == max(r.macro_f1 for r in rows)
    model_version = MlflowClient().get_model_version_by_alias(settings.genre_model_name, "champion")
    run = MlflowClient().get_run(model_version.run_id)
    assert 0.0 <= run.data.metrics["test_accuracy"] <= 1.0
    assert run.data.tags["dagster.asset"] in CANDIDATES and run.data.tags["dagster.run_id"]
    version = champion.version

    # inference: one JSONL line per track with features, labels from the library's genres
    (batch,) = batches
    lines = (settings.predictions_dir / f"{batch}.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == analysed
    assert {label for r in records for label in r["global_prediction"]["all_probabilities"]} == {t.genre for t in truth}
    assert all(r["segments"] and r["model"]["version"] == version for r in records)
    # each line carries the track's top MusiCNN tags from the store, most probable first
    stored = dict(query("SELECT model, arg_max(label, probability) FROM track_tags WHERE track_id = ? GROUP BY ALL",
                        records[0]["track_id"]))  # fmt: skip
    for model, tags in records[0]["top_tags"].items():
        assert len(tags) == 5 and tags[0]["label"] == stored[model]
    # the SQL views: one row per live track, one per segment and label
    assert query("SELECT count(*) FROM genre_predictions") == [(analysed,)]
    n_labels = len(records[0]["global_prediction"]["all_probabilities"])
    assert query("SELECT count(*) FROM segment_predictions") == [(sum(r["total_segments"] for r in records) * n_labels,)]

    # the user's taxonomy, learned from the tagged half, predicts the untagged half
    from melodex_ml.demo.score import untagged_score

    score = untagged_score(root, settings)
    assert score.total == len(truth) // 2 and score.accuracy >= 0.9, score.wrong

    # captions of the catalog are embedded with the bundled sentence encoder
    captions = read_embeddings(settings.embeddings_dir / "captions.h5")
    assert len(captions) == query("SELECT count(*) FROM dataset_catalog")[0][0] > 0

    # Dagster saw every asset that ran materialize
    for asset in ("library_tracks", "dataset_catalog", "caption_embeddings", "genre_classifier"):
        assert instance.get_latest_materialization_event(dg.AssetKey(asset)) is not None, asset
    for asset in ("track_features", "genre_predictions"):
        assert instance.get_materialized_partitions(dg.AssetKey(asset)) == {batch}, asset

    # every documented query in sql/queries.sql runs on the store
    queries = documented_queries()
    assert len(queries) >= 8
    results = {name: query(sql) for name, sql in queries.items()}
    assert sum(row[1] for row in results["library_overview"]) == len(live)
    assert len(results["tempo_and_key"]) == analysed
    assert {row[0] for row in results["catalog_splits"]} == {"library"}

    # an unchanged library: nothing to process, nothing duplicated
    second = run_all()
    assert second.ok and not second.runs
    assert query("SELECT count(*) FROM features") == [(analysed,)]

    # move one file, delete another: the move keeps its id and results, the deletion is retired
    moved, deleted = truth[0], truth[1]
    moved_id = query("SELECT track_id FROM live_tracks WHERE path = ?", str(root / moved.path))[0][0]
    deleted_id = query("SELECT track_id FROM live_tracks WHERE path = ?", str(root / deleted.path))[0][0]
    (root / "moved").mkdir()
    shutil.move(root / moved.path, root / "moved" / f"renamed{(root / moved.path).suffix}")
    (root / deleted.path).unlink()
    third = run_all()
    assert third.ok and not third.materialized("track_features") and third.materialized("library_tracks") == [None]
    assert query("SELECT path FROM live_tracks WHERE track_id = ?", moved_id)[0][0].startswith(str(root / "moved"))
    assert query("SELECT count(*) FROM features WHERE track_id = ?", moved_id) == [(1,)]
    assert query("SELECT count(*) FROM tracks WHERE retired_at IS NOT NULL") == [(1,)]

    # new audio in an existing file: recomputed in a new batch, served once, never duplicated
    changed = truth[4]
    changed_id = query("SELECT track_id FROM live_tracks WHERE path = ?", str(root / changed.path))[0][0]
    audio, rate = sf.read(root / changed.path)
    sf.write(root / changed.path, audio[: len(audio) // 2], rate)
    fourth = run_all()
    assert fourth.ok and len(fourth.materialized("track_features")) == 1
    assert query("SELECT duration_s FROM features WHERE track_id = ?", changed_id)[0][0] == pytest.approx(
        changed.duration_s / 2, abs=0.1
    )
    served = query("SELECT track_id, count(*) FROM genre_predictions GROUP BY ALL HAVING count(*) > 1")
    assert served == []
    assert query("SELECT count(*) FROM genre_predictions") == query(
        "SELECT count(*) FROM live_tracks WHERE track_id IN (SELECT track_id FROM features)"
    )
    assert query("SELECT count(*) FROM audio_features WHERE track_id = ?", deleted_id) == [(0,)]

    # a process killed right after it moved the champion alias: the next run records that
    # champion in Dagster and re-predicts every batch with it
    from melodex_ml.stages import models

    retrained = models.train_candidates(settings, "descriptors")
    new_version = retrained.metadata["descriptor-logreg version"]
    MlflowClient().set_registered_model_alias(settings.genre_model_name, "champion", new_version)
    fifth = run_all()
    assert fifth.ok and sorted(fifth.materialized("genre_predictions")) == sorted(instance.get_dynamic_partitions("scan_batches"))
    versions = {r["model"]["version"] for p in settings.predictions_dir.glob("*.jsonl") for r in map(json.loads, p.read_text().splitlines())}
    assert versions == {new_version}


def test_weights_configured_later_process_the_skipped_batches_without_a_rescan(tmp_path, melodex_home, monkeypatch):
    """Offline the model stages skip; once (tiny, local) weights are configured, `melodex run`
    processes the batches they skipped, and nothing else: no rescan, no recomputed features."""
    root = tmp_path / "library"
    truth = generate_demo_library(root, n_tracks=2, seed=5, duration_range=(20.0, 20.5))
    monkeypatch.setenv("MELODEX_LIBRARY_ROOTS", str(root))
    offline = run_all()
    assert offline.ok, offline.failed
    (batch,) = offline.materialized("track_features")
    assert not offline.materialized("track_stems") and not offline.materialized("track_encoder_embeddings")
    # two tracks are too few labels: the classifier is skipped too, and inference waits for a model
    assert not offline.materialized("genre_classifier") and not offline.materialized("genre_predictions")

    monkeypatch.setenv("MELODEX_DEMUCS_MODEL", "tiny")
    monkeypatch.setenv("MELODEX_DEMUCS_REPO", str(save_demucs_repo(tmp_path / "demucs", tiny_htdemucs())))
    with_demucs = run_all()
    assert [(run.partition, run.materialized) for run in with_demucs.runs] == [(batch, ("track_stems",))]
    settings = get_settings()
    ids = [row[0] for row in query("SELECT track_id FROM live_tracks ORDER BY track_id")]
    assert len(ids) == len(truth)
    for track_id in ids:
        assert sorted(p.stem for p in (settings.stems_dir / track_id).glob("*.flac")) == sorted(
            ["drums", "bass", "other", "vocals"]
        )

    monkeypatch.setenv("MELODEX_AUDIO_ENCODER", str(save_tiny_encoder(tmp_path / "encoder")))
    with_encoder = run_all()
    assert [(run.partition, run.materialized) for run in with_encoder.runs if run.materialized] == [
        (batch, ("track_encoder_embeddings",))
    ]
    # the new embeddings are new inputs of the embedding probes, which try and skip: two tracks are too few labels
    assert [run.assets for run in with_encoder.runs if not run.materialized] == [("embedding_probe_classifiers",)]
    encoder = encoder_folder_name(str(tmp_path / "encoder"))
    assert sorted(read_embeddings(settings.embeddings_dir / encoder / f"{batch}.h5").track_ids) == ids
    statuses = dict(query("SELECT stage, status FROM stage_runs"))
    assert statuses["stems"] == statuses["encoder_embeddings"] == statuses["embeddings"] == statuses["features"] == "ok"
    assert statuses["models:descriptors"] == statuses["models:mfcc_cnn"] == "skipped"
    assert run_all().runs == []
