"""Each asset check failing and passing, on real stored results."""

from __future__ import annotations

import dagster as dg
import pytest
from genre_fixtures import blob_library, taxonomy_of

from dagster_project.definitions import build_definitions
from dagster_project.instance import ensure_instance
from melodex_assets.catalog import no_split_leakage
from melodex_assets.features import features_one_row_per_track
from melodex_assets.models import champion_metric_floor
from melodex_ml import experiments, registry
from melodex_ml.demo import generate_demo_library
from melodex_ml.settings import MelodexSettings
from melodex_ml.store import connect
from melodex_ml.training.evaluation_split import make_evaluation_split
from melodex_ml.training.probes import train_logistic_probe


def check_evaluations(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {evaluation.check_name: evaluation for evaluation in result.get_asset_check_evaluations()}


def test_batch_checks_warn_on_many_failures_and_fail_on_duplicates(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    root = tmp_path / "library"
    # two good tracks and a WAV cut off in its header: one of three tracks fails its features
    generate_demo_library(root, n_tracks=2, seed=5, duration_range=(20.0, 20.5), with_defects=True)
    settings = MelodexSettings(home=tmp_path / "home", library_roots=[root])
    instance = ensure_instance(settings)
    assert build_definitions(settings).resolve_job_def("library_scan_job").execute_in_process(instance=instance).success
    (batch,) = instance.get_dynamic_partitions("scan_batches")
    for threshold, passed in ((0.2, False), (0.5, True)):
        defs = build_definitions(settings.with_overrides(failure_warn_share=threshold))
        result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance, asset_selection=[dg.AssetKey("track_features")], partition_key=batch
        )
        share = check_evaluations(result)["failure_share"]
        assert share.passed is passed and share.severity == dg.AssetCheckSeverity.WARN
        assert share.metadata["failed_share"].value == pytest.approx(1 / 3, abs=1e-3)
        assert check_evaluations(result)["one_row_per_track"].passed

    with connect(settings.duckdb_path) as con:  # a write that added instead of replacing
        con.execute(
            "INSERT INTO head_predictions VALUES ((SELECT min(track_id) FROM features), NULL, 'genre', 'm', 'rock', 0.5),"
            " ((SELECT min(track_id) FROM features), NULL, 'genre', 'm', 'rock', 0.5)"
        )
    duplicated = features_one_row_per_track(settings=settings)
    assert not duplicated.passed and duplicated.severity == dg.AssetCheckSeverity.ERROR
    assert duplicated.metadata["duplicated in head_predictions"].value == 1


def catalog_row(record_id: str, artist: str, split: str) -> dict:
    return dict(id=record_id, dataset="library", source_id=record_id, audio_path=f"/music/{record_id}.flac",
                caption="a song", duration=30.0, caption_source="tags", alt_captions=[], artist=artist,
                title=record_id, tags=[], genres=["rock"], license=None, clip_start=0.0,
                track_key=f"library:{record_id}", artist_key=artist.lower(), official_split=None, split=split)


@pytest.mark.parametrize(("test_artist", "passed"), [("Other Band", True), ("The Band", False)])
def test_split_leakage_blocks_on_an_artist_on_both_sides(tmp_path, test_artist, passed):
    from melodex_ml.store import replace_rows

    settings = MelodexSettings(home=tmp_path / "home")
    with connect(settings.duckdb_path) as con:
        rows = [catalog_row("a", "The Band", "train"), catalog_row("b", test_artist, "test")]
        replace_rows(con, "dataset_catalog", "id", ["a", "b"], rows)
    context = dg.build_asset_check_context(resources={"settings": settings}, instance=dg.DagsterInstance.ephemeral())
    result = no_split_leakage(context)
    assert result.passed is passed and result.severity == dg.AssetCheckSeverity.ERROR
    assert result.metadata["artists_on_several_sides"].value == (0 if passed else 1)
    assert no_split_leakage.check_specs_by_output_name and next(iter(no_split_leakage.check_specs)).blocking


def test_inference_is_blocked_until_a_champion_reaches_the_floor(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    settings = MelodexSettings(home=tmp_path / "home", model_metric_floor=0.8)
    assert not champion_metric_floor(settings=settings).passed  # no champion at all
    for separation, passed in ((0.0, False), (6.0, True)):  # noise first, then separable genres, same split
        library = blob_library(separation=separation, artists_per_genre=4)
        taxonomy = taxonomy_of(library)
        result = train_logistic_probe(library.vectors, taxonomy, make_evaluation_split(taxonomy))
        experiments.log_candidate(result, settings)
        registry.promote_champion(settings)
        check = champion_metric_floor(settings=settings)
        assert check.passed is passed, check.metadata
        assert check.metadata["champion_score"].value == pytest.approx(result.evaluation.macro_f1)
    assert next(iter(champion_metric_floor.check_specs)).blocking
