"""The automation conditions, evaluated with Dagster's own evaluator against a real instance.

Upstream results are reported as runless events (a materialization with its data version, a
check evaluation), which is exactly what the conditions read; the stages themselves run in
tests/test_pipeline.py.
"""

from __future__ import annotations

import dagster as dg
import numpy as np
import soundfile as sf

from dagster_project.definitions import build_definitions
from dagster_project.sensors import build_library_observation_sensor
from melodex_assets.automation import CANDIDATES
from melodex_assets.catalog import library_observation
from melodex_assets.partitions import scan_batches
from melodex_ml.settings import MelodexSettings

DATA_VERSION = "dagster/data_version"
BATCH_ASSETS = {"track_stems", "track_features", "track_embeddings", "track_encoder_embeddings"}


def write_tone(path, seconds=1.0, rate=22050):
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * rate)) / rate
    sf.write(path, 0.2 * np.sin(2 * np.pi * 440 * t), rate)


class Ticks:
    """Consecutive evaluations of every condition, as the daemon's ticks (the first one is the baseline)."""

    def __init__(self, defs: dg.Definitions, instance: dg.DagsterInstance):
        self.defs, self.instance = defs, instance
        self.cursor = dg.evaluate_automation_conditions(defs, instance).cursor

    def __call__(self, defs: dg.Definitions | None = None) -> dict[str, set]:
        self.defs = defs or self.defs
        result = dg.evaluate_automation_conditions(self.defs, self.instance, cursor=self.cursor)
        self.cursor = result.cursor
        names = [spec.key.to_user_string() for spec in self.defs.resolve_all_asset_specs()]
        return {name: parts for name in names if (parts := result.get_requested_partitions(dg.AssetKey(name)))}


def materialized(instance, asset, version, partition=None):
    instance.report_runless_asset_event(dg.AssetMaterialization(asset, partition=partition, tags={DATA_VERSION: version}))


def check_result(instance, asset, check, passed):
    instance.report_runless_asset_event(
        dg.AssetCheckEvaluation(asset_key=dg.AssetKey(asset), check_name=check, passed=passed)
    )


def settings_for(tmp_path, **changes) -> MelodexSettings:
    return MelodexSettings(home=tmp_path / "home", library_roots=[tmp_path / "music"], **changes)


def test_the_library_is_scanned_when_its_fingerprint_changes_and_only_then(tmp_path):
    write_tone(tmp_path / "music" / "a.wav")
    settings = settings_for(tmp_path)
    instance = dg.DagsterInstance.ephemeral()
    tick = Ticks(build_definitions(settings), instance)
    assert tick() == {}
    instance.report_runless_asset_event(library_observation(instance, settings))
    assert tick() == {"library_tracks": {None}}
    assert tick() == {}
    # the same files again: no observation, so no scan
    assert library_observation(instance, settings) is None
    (tmp_path / "music" / "notes.txt").write_text("a new file changes the fingerprint")
    observation = library_observation(instance, settings)
    assert observation is not None
    instance.report_runless_asset_event(observation)
    assert tick() == {"library_tracks": {None}}


def test_new_batches_are_processed_once_and_an_unchanged_scan_triggers_nothing(tmp_path):
    instance = dg.DagsterInstance.ephemeral()
    tick = Ticks(build_definitions(settings_for(tmp_path)), instance)
    instance.add_dynamic_partitions(scan_batches.name, ["b1"])
    materialized(instance, "library_tracks", "tracks-v1")
    assert tick() == {"dataset_catalog": {None}, **{asset: {"b1"} for asset in BATCH_ASSETS}}
    # the features ran; stems and embeddings were skipped (no weights): not materialized, not re-requested
    materialized(instance, "track_features", "f1", partition="b1")
    materialized(instance, "dataset_catalog", "catalog-v1")
    check_result(instance, "dataset_catalog", "no_split_leakage", passed=True)
    # every candidate classifier and the text projection train once their inputs exist (the embedding
    # probes and the projection skip while no embedding is stored)
    assert tick() == {
        "caption_embeddings": {None}, "text_music_projection": {None},
        **{candidate: {None} for candidate in CANDIDATES},
    }
    assert tick() == {}
    # a rescan that found nothing new keeps its data version: nothing downstream runs, nothing is stale
    materialized(instance, "library_tracks", "tracks-v1")
    assert tick() == {}


def test_a_skipped_batch_runs_again_when_its_weights_appear(tmp_path):
    instance = dg.DagsterInstance.ephemeral()
    settings = settings_for(tmp_path)
    tick = Ticks(build_definitions(settings), instance)
    instance.add_dynamic_partitions(scan_batches.name, ["b1", "b2"])
    materialized(instance, "library_tracks", "tracks-v1")
    assert BATCH_ASSETS <= set(tick())
    for batch in ("b1", "b2"):
        materialized(instance, "track_features", f"f-{batch}", partition=batch)
    tick()
    assert "track_stems" not in tick()
    weights = tmp_path / "demucs"
    weights.mkdir()
    (weights / "htdemucs.yaml").write_text("models: [sig]\n")
    configured = build_definitions(settings.with_overrides(demucs_repo=weights))
    # the code version names the weights: both missing batches, and only the stems
    assert tick(configured) == {"track_stems": {"b1", "b2"}}
    assert tick() == {}


def test_predictions_follow_the_champion_not_every_retrain(tmp_path):
    instance = dg.DagsterInstance.ephemeral()
    tick = Ticks(build_definitions(settings_for(tmp_path)), instance)
    instance.add_dynamic_partitions(scan_batches.name, ["b1", "b2"])
    materialized(instance, "library_tracks", "tracks-v1")
    tick()
    for batch in ("b1", "b2"):
        materialized(instance, "track_features", f"f-{batch}", partition=batch)
    materialized(instance, "dataset_catalog", "catalog-v1")
    check_result(instance, "dataset_catalog", "no_split_leakage", passed=True)
    assert "descriptor_classifier" in tick()
    materialized(instance, "descriptor_classifier", "logreg@1")
    materialized(instance, "mfcc_cnn_classifier", "cnn@2")
    assert tick() == {"genre_classifier": {None}}  # the champion is chosen among the new versions
    materialized(instance, "genre_classifier", "model@1")
    check_result(instance, "genre_classifier", "champion_metric_floor", passed=True)
    assert tick() == {"genre_predictions": {"b1", "b2"}}
    for batch in ("b1", "b2"):
        materialized(instance, "genre_predictions", f"p-{batch}", partition=batch)
    # a retrain that keeps the same champion re-predicts nothing; a new champion re-predicts every batch
    materialized(instance, "genre_classifier", "model@1")
    check_result(instance, "genre_classifier", "champion_metric_floor", passed=True)
    assert tick() == {}
    materialized(instance, "genre_classifier", "model@2")
    check_result(instance, "genre_classifier", "champion_metric_floor", passed=True)
    assert tick() == {"genre_predictions": {"b1", "b2"}}


def test_blocking_checks_stop_training_and_inference(tmp_path):
    instance = dg.DagsterInstance.ephemeral()
    tick = Ticks(build_definitions(settings_for(tmp_path)), instance)
    instance.add_dynamic_partitions(scan_batches.name, ["b1"])
    materialized(instance, "library_tracks", "tracks-v1")
    tick()
    materialized(instance, "track_features", "f-b1", partition="b1")
    materialized(instance, "dataset_catalog", "catalog-v1")
    check_result(instance, "dataset_catalog", "no_split_leakage", passed=False)
    assert not set(CANDIDATES) & set(tick())
    # a champion that misses the metric floor is not used for inference
    materialized(instance, "genre_classifier", "model@1")
    check_result(instance, "genre_classifier", "champion_metric_floor", passed=False)
    assert "genre_predictions" not in tick()
    check_result(instance, "genre_classifier", "champion_metric_floor", passed=True)
    materialized(instance, "genre_classifier", "model@2")
    check_result(instance, "genre_classifier", "champion_metric_floor", passed=True)
    assert tick() == {"genre_predictions": {"b1"}}


def test_training_waits_for_every_batch_then_retrains_on_its_cron(tmp_path):
    import datetime

    instance = dg.DagsterInstance.ephemeral()
    defs = build_definitions(settings_for(tmp_path, train_cron="0 4 * * *"))
    now = datetime.datetime.now(datetime.UTC)
    next_cron = (now + datetime.timedelta(days=1)).replace(hour=4, minute=30, second=0, microsecond=0)
    if next_cron - now > datetime.timedelta(days=1):
        next_cron -= datetime.timedelta(days=1)

    def tick_at(when: datetime.datetime, cursor):
        result = dg.evaluate_automation_conditions(defs, instance, cursor=cursor, evaluation_time=when)
        return result.get_requested_partitions(dg.AssetKey("descriptor_classifier")), result.cursor

    _, cursor = tick_at(now, None)
    instance.add_dynamic_partitions(scan_batches.name, ["b1"])
    materialized(instance, "dataset_catalog", "catalog-v1")
    check_result(instance, "dataset_catalog", "no_split_leakage", passed=True)
    materialized(instance, "track_features", "f1", partition="b1")
    requested, cursor = tick_at(now + datetime.timedelta(minutes=1), cursor)
    assert requested == {None}  # the first model, as soon as there are features
    _, cursor = tick_at(now + datetime.timedelta(minutes=2), cursor)  # the training run is going
    materialized(instance, "descriptor_classifier", "logreg@1")
    materialized(instance, "track_features", "f2", partition="b1")
    requested, cursor = tick_at(now + datetime.timedelta(minutes=3), cursor)
    assert requested == set()  # new features wait for the cron
    requested, cursor = tick_at(next_cron, cursor)  # the next 04:30
    assert requested == {None}
    materialized(instance, "descriptor_classifier", "logreg@2")
    requested, cursor = tick_at(next_cron + datetime.timedelta(days=1), cursor)  # nothing new since the retrain
    assert requested == set()


def test_a_fresh_daemon_after_a_finished_run_requests_nothing(tmp_path):
    """`melodex ui` after `melodex demo`: new automation and observation cursors, no run."""
    write_tone(tmp_path / "music" / "a.wav")
    settings = settings_for(tmp_path)
    instance = dg.DagsterInstance.ephemeral()
    defs = build_definitions(settings)
    instance.report_runless_asset_event(library_observation(instance, settings))
    instance.add_dynamic_partitions(scan_batches.name, ["b1"])
    materialized(instance, "library_tracks", "tracks-v1")
    materialized(instance, "track_features", "f1", partition="b1")  # stems and embeddings stayed missing
    # the daemon's first evaluations
    tick = Ticks(defs, instance)
    assert tick() == {}
    sensor = build_library_observation_sensor(settings)
    first = sensor(dg.build_sensor_context(instance=instance))
    assert first.skip_reason is not None and not first.asset_events
    second = sensor(dg.build_sensor_context(instance=instance, cursor=first.cursor))
    assert isinstance(second, dg.SkipReason)
    assert tick() == {}
    write_tone(tmp_path / "music" / "b.wav")
    third = sensor(dg.build_sensor_context(instance=instance, cursor=first.cursor))
    (event,) = third.asset_events
    instance.report_runless_asset_event(event)
    assert tick() == {"library_tracks": {None}}


def test_an_input_computed_in_the_same_run_does_not_trigger_the_asset_again(tmp_path):
    """Features and predictions of a batch run together; the features' new data version must not
    re-request the predictions once that run ends (the daemon's ticks see the run finish later)."""
    from melodex_assets.automation import on_new_batch, on_new_batch_or_champion

    @dg.asset(partitions_def=scan_batches, automation_condition=on_new_batch())
    def track_features(): ...

    @dg.asset
    def genre_classifier(): ...

    @dg.asset(partitions_def=scan_batches, deps=[track_features, genre_classifier],
              automation_condition=on_new_batch_or_champion())
    def genre_predictions(): ...

    instance = dg.DagsterInstance.ephemeral()
    defs = dg.Definitions(assets=[track_features, genre_classifier, genre_predictions])
    tick = Ticks(defs, instance)
    assert dg.materialize([genre_classifier], instance=instance).success
    assert tick() == {}
    instance.add_dynamic_partitions(scan_batches.name, ["b1"])
    assert tick() == {"track_features": {"b1"}, "genre_predictions": {"b1"}}  # one run, as the daemon groups them
    assert tick() == {}  # that run is still going
    job = defs.resolve_implicit_global_asset_job_def()

    def run(*assets):  # as the daemon and `melodex run` launch them: a run that names its assets
        keys = [asset.key for asset in assets]
        assert job.execute_in_process(instance=instance, asset_selection=keys, partition_key="b1").success

    run(track_features, genre_predictions)
    assert tick() == {}
    # features recomputed on their own (a new extractor, by hand) do re-predict the batch
    run(track_features)
    assert tick() == {"genre_predictions": {"b1"}}
