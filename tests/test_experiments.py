import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient

from melodex_ml import experiments, registry, tracking
from melodex_ml.settings import MelodexSettings
from melodex_ml.training.evaluation_split import SplitConfig, make_evaluation_split
from melodex_ml.training.inputs import SegmentVectors
from melodex_ml.training.probes import MlpProbeConfig, train_logistic_probe, train_mlp_probe
from melodex_ml.training.torch_loop import LoopConfig
from tests.genre_fixtures import blob_library, taxonomy_of


@pytest.fixture
def settings(melodex_home):
    return MelodexSettings(home=melodex_home)


def _noise_like(library):
    """The same tracks with vectors that carry no genre: a worse candidate on the same split."""
    rng = np.random.default_rng(1)
    return SegmentVectors(rng.normal(size=library.vectors.values.shape).astype(np.float32),
                          library.vectors.track_ids, "embedding:noise")  # fmt: skip


def test_candidates_are_logged_registered_and_the_champion_only_moves_for_a_better_score(settings):
    library = blob_library(separation=6.0)
    taxonomy = taxonomy_of(library)
    split = make_evaluation_split(taxonomy)
    good = train_logistic_probe(library.vectors, taxonomy, split)
    bad = train_logistic_probe(_noise_like(library), taxonomy, split)
    assert good.evaluation.macro_f1 > bad.evaluation.macro_f1

    first = experiments.log_candidate(good, settings, tags={"dagster.run_id": "run-1"})
    decision = registry.promote_champion(settings, split_hash=split.split_hash)
    assert decision.moved and decision.champion == first.version == "1"

    experiments.log_candidate(bad, settings)
    decision = registry.promote_champion(settings, split_hash=split.split_hash)
    assert not decision.moved and decision.champion == "1" and "stays champion" in decision.reason
    # The same candidate again scores the same: not better, so the alias stays.
    experiments.log_candidate(good, settings)
    assert not registry.promote_champion(settings).moved
    assert registry.champion_score(settings).version == "1"
    client = MlflowClient()
    assert len(client.search_model_versions(f"name = '{settings.genre_model_name}'")) == 3

    run = client.get_run(first.run_id)
    assert run.data.tags["dagster.run_id"] == "run-1"
    assert run.data.tags["melodex.split_hash"] == split.split_hash and "melodex.version" in run.data.tags
    assert run.data.params["n_train_tracks"] == str(len(split.train_track_ids))
    assert "n_train_tracks" not in run.data.metrics
    assert run.data.metrics["test_macro_f1"] == pytest.approx(good.evaluation.macro_f1)
    assert run.data.metrics["test_recall_Rock"] == 1.0
    artifacts = {a.path for a in client.list_artifacts(first.run_id, "evaluation")}
    assert {"evaluation/confusion_matrix.png", "evaluation/per_class.json",
            "evaluation/classification_report.txt"} <= artifacts  # fmt: skip
    png = mlflow.artifacts.download_artifacts(run_id=first.run_id, artifact_path="evaluation/confusion_matrix.png")
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    assert run.inputs.dataset_inputs[0].dataset.digest == split.split_hash
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"

    rows = registry.compare_candidates(settings)
    assert [r.candidate for r in rows] == ["probe-logreg:blobs:segment", "probe-logreg:noise:segment"]
    assert rows[0].champion is False  # the newest version of the good candidate is v3; v1 holds the alias
    assert rows[0].macro_f1 == pytest.approx(good.evaluation.macro_f1)
    assert "probe-logreg:noise:segment" in registry.format_comparison(rows)


def test_the_champion_loads_into_a_genre_model_with_signature_and_example(settings):
    library = blob_library(separation=6.0, untagged_every=4)
    taxonomy = taxonomy_of(library)
    split = make_evaluation_split(taxonomy)
    result = train_logistic_probe(library.vectors, taxonomy, split)
    logged = experiments.log_candidate(result, settings)
    registry.promote_champion(settings)
    champion = experiments.load_champion(settings)
    assert (champion.version, champion.run_id, champion.candidate) == ("1", logged.run_id, result.candidate)
    rows = library.vectors.rows_of(list(taxonomy.unlabeled)).values
    np.testing.assert_allclose(champion.model.predict_segments(rows), result.model.predict_segments(rows), rtol=1e-6)
    assert champion.model.embed(rows).shape == (len(rows), 8)

    uri = f"models:/{settings.genre_model_name}/1"
    info = mlflow.models.get_model_info(uri)
    assert info.signature is not None and info.saved_input_example_info is not None
    assert info.metadata["input_kind"] == "embedding:blobs" and info.metadata["split_hash"] == split.split_hash
    frame = mlflow.pyfunc.load_model(uri).predict(rows)
    assert list(frame.columns) == list(taxonomy.labels) and np.allclose(frame.sum(axis=1), 1.0)


def test_iterative_candidates_log_one_metric_point_per_epoch(settings):
    library = blob_library(separation=4.0, artists_per_genre=4)
    taxonomy = taxonomy_of(library)
    config = MlpProbeConfig(hidden=8, loop=LoopConfig(max_epochs=12, batch_size=16, learning_rate=1e-2, patience=3))
    result = train_mlp_probe(library.vectors, taxonomy, make_evaluation_split(taxonomy), config)
    logged = experiments.log_candidate(result, settings)
    history = MlflowClient().get_metric_history(logged.run_id, "val_loss")
    assert [m.step for m in history] == [h.epoch for h in result.history]
    assert [m.value for m in history] == pytest.approx([h.val_loss for h in result.history])
    # each point is stamped when its epoch ended, and the run spans the training it records
    assert [m.timestamp for m in history] == [round(h.ended_at * 1000) for h in result.history]
    run = MlflowClient().get_run(logged.run_id)
    assert run.info.start_time == round(result.started_at * 1000) <= history[0].timestamp
    assert run.info.end_time - run.info.start_time >= result.train_seconds * 1000
    params = run.data.params
    assert params["best_epoch"] == str(result.best_epoch) and params["patience"] == "3"
    artifacts = {a.path for a in MlflowClient().list_artifacts(logged.run_id, "evaluation")}
    assert "evaluation/training_curves.png" in artifacts


def test_a_new_split_replaces_a_champion_scored_on_old_data(settings):
    library = blob_library(separation=6.0)
    taxonomy = taxonomy_of(library)
    old_split = make_evaluation_split(taxonomy, SplitConfig(seed=1))
    experiments.log_candidate(train_logistic_probe(library.vectors, taxonomy, old_split), settings)
    registry.promote_champion(settings)
    new_split = make_evaluation_split(taxonomy, SplitConfig(seed=2))
    assert new_split.split_hash != old_split.split_hash
    experiments.log_candidate(train_logistic_probe(_noise_like(library), taxonomy, new_split), settings)
    decision = registry.promote_champion(settings, split_hash=new_split.split_hash)
    assert decision.moved and decision.champion == "2" and "another split" in decision.reason


def test_no_champion_is_a_clear_error(settings):
    with pytest.raises(tracking.NoRegisteredModel, match="train the genre models first"):
        experiments.load_champion(settings)
    assert registry.compare_candidates(settings) == []
    assert registry.promote_champion(settings).champion is None


def test_labels_with_any_characters_become_valid_metric_names(settings):
    library = blob_library(genres=("R&B", "Rock/Pop", "Électro", "ロック"))
    taxonomy = taxonomy_of(library)
    result = train_logistic_probe(library.vectors, taxonomy, make_evaluation_split(taxonomy))
    logged = experiments.log_candidate(result, settings)
    metrics = MlflowClient().get_run(logged.run_id).data.metrics
    assert {"test_f1_R_B", "test_f1_Rock_Pop", "test_f1_Electro", "test_f1_label"} <= set(metrics)


def test_the_registry_says_which_version_is_champion_and_why(settings):
    library = blob_library(separation=6.0)
    taxonomy = taxonomy_of(library)
    split = make_evaluation_split(taxonomy)
    result = train_logistic_probe(library.vectors, taxonomy, split)
    first = experiments.log_candidate(result, settings)
    experiments.log_candidate(train_logistic_probe(library.vectors, taxonomy, split), settings)  # the same score
    decision = registry.promote_champion(settings)
    assert decision.champion == first.version == "1"
    assert "tied with 1 other version(s) on this split: the earliest registered wins" in decision.reason
    client, name = MlflowClient(), settings.genre_model_name
    assert decision.reason in client.get_registered_model(name).description
    version = client.get_model_version(name, "1")
    assert version.description == f"{result.candidate}: test_macro_f1 {result.evaluation.macro_f1:.4f} on split {split.split_hash}"
    # runs and logged models say what they are in the UI
    run = client.get_run(first.run_id)
    assert run.data.tags["mlflow.note.content"] == "\n".join(result.notes)
    models = mlflow.search_logged_models(experiment_ids=[run.info.experiment_id], output_format="list")
    (model,) = [m for m in models if m.source_run_id == first.run_id]
    assert model.name == experiments.logged_model_name(result.candidate) == "probe-logreg-blobs-segment"
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.tags["mlflow.note.content"].startswith("Melodex model candidates")
