"""Sensors and schedules hand library changes downstream without Dagster's daemon running."""

from __future__ import annotations

import dagster as dg
import soundfile as sf
import numpy as np

from dagster_project.definitions import build_definitions
from dagster_project.instance import ensure_instance
from dagster_project.sensors import library_change_sensor, new_genre_model_sensor, scan_batch_sensor
from melodex_assets.partitions import scan_batches
from melodex_ml.settings import get_settings


def write_tone(path, seconds=1.0, rate=22050):
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * rate)) / rate
    sf.write(path, 0.2 * np.sin(2 * np.pi * 440 * t), rate)


def test_library_change_sensor_fires_once_per_change(tmp_path, melodex_home, monkeypatch):
    monkeypatch.setenv("MELODEX_LIBRARY_ROOTS", str(tmp_path / "music"))
    write_tone(tmp_path / "music" / "a.wav")
    with dg.instance_for_test() as instance:
        first = library_change_sensor(dg.build_sensor_context(instance=instance))
        assert isinstance(first, dg.SensorResult) and len(first.run_requests) == 1
        same = library_change_sensor(dg.build_sensor_context(instance=instance, cursor=first.cursor))
        assert isinstance(same, dg.SkipReason)
        write_tone(tmp_path / "music" / "b.wav")
        changed = library_change_sensor(dg.build_sensor_context(instance=instance, cursor=first.cursor))
        assert isinstance(changed, dg.SensorResult) and changed.cursor != first.cursor


def test_scan_batch_sensor_requests_one_run_per_unprocessed_batch(melodex_home):
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(scan_batches.name, ["20261124T010000-0001", "20261124T010000-0002"])
        result = scan_batch_sensor(dg.build_sensor_context(instance=instance))
        assert [r.partition_key for r in result.run_requests] == ["20261124T010000-0001", "20261124T010000-0002"]
        assert [r.run_key for r in result.run_requests] == ["20261124T010000-0001#0", "20261124T010000-0002#0"]
        instance.report_runless_asset_event(
            dg.AssetMaterialization("track_features", partition="20261124T010000-0001")
        )
        result = scan_batch_sensor(dg.build_sensor_context(instance=instance))
        assert [r.partition_key for r in result.run_requests] == ["20261124T010000-0002"]


def test_a_new_model_re_predicts_every_batch(melodex_home):
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(scan_batches.name, ["b1", "b2"])
        instance.report_runless_asset_event(dg.AssetMaterialization("genre_classifier"))
        context = dg.build_sensor_context(instance=instance, definitions=build_definitions())
        requests = list(new_genre_model_sensor(context) or [])
        assert sorted(r.partition_key for r in requests) == ["b1", "b2"]


def test_scheduled_scan_registers_batches_for_new_tracks(tmp_path, melodex_home, monkeypatch):
    monkeypatch.setenv("MELODEX_LIBRARY_ROOTS", str(tmp_path / "music"))
    monkeypatch.setenv("MELODEX_BATCH_SIZE", "2")
    for name in "abcde":
        write_tone(tmp_path / "music" / f"{name}.wav")
    defs = build_definitions()
    schedule = defs.resolve_schedule_def("library_scan_schedule")
    assert schedule.cron_schedule == get_settings().scan_cron == "0 * * * *"
    instance = ensure_instance(get_settings())
    assert defs.resolve_job_def(schedule.job_name).execute_in_process(instance=instance).success
    # 5 new tracks in batches of at most 2: three partitions, never one per track
    assert len(instance.get_dynamic_partitions(scan_batches.name)) == 3


def test_a_failed_batch_is_retried_a_bounded_number_of_times(tmp_path, melodex_home, monkeypatch):
    from dagster_project.sensors import MAX_ATTEMPTS

    # A home that is a file, not a folder: every stage of the batch fails to open the store.
    broken_home = tmp_path / "not-a-folder"
    broken_home.write_text("")
    monkeypatch.setenv("MELODEX_HOME", str(broken_home))
    job = build_definitions().resolve_job_def("process_scan_batch_job")
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(scan_batches.name, ["b1"])
        for attempt in range(MAX_ATTEMPTS):
            (request,) = scan_batch_sensor(dg.build_sensor_context(instance=instance)).run_requests
            assert request.run_key == f"b1#{attempt}"
            assert not job.execute_in_process(instance=instance, partition_key="b1", raise_on_error=False).success
        assert isinstance(scan_batch_sensor(dg.build_sensor_context(instance=instance)), dg.SkipReason)
