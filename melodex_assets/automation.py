"""When each asset runs, declared once with Dagster's AutomationCondition.

The Dagster daemon evaluates these conditions under `melodex ui`; `melodex run` evaluates the very
same conditions in-process (dagster_project/orchestrate.py) and executes what they request, so
there is no second copy of these decisions anywhere.

The rules, by asset (what "new data" means: a dependency materialized or observed with a *changed*
data version, so an unchanged rescan or a retrain that keeps the same champion triggers nothing):

- ``library_tracks``: the library roots' stat fingerprint (the ``library_roots`` observation)
  changed; optionally also on MELODEX_SCAN_CRON.
- ``dataset_catalog``, ``caption_embeddings``: new data upstream.
- ``track_stems``, ``track_features``, ``track_embeddings``, ``track_encoder_embeddings`` (per scan batch): a new batch, once; and
  a batch still missing when the asset's code version changes -- the code version names the
  model weights (see melodex_ml/stages/versions.py), so configuring Demucs or an encoder later
  processes the batches that were skipped, without a rescan.
- the candidate classifiers (``descriptor_classifier``, ``embedding_probe_classifiers``,
  ``mfcc_cnn_classifier``, ``wav2vec2_classifier``): the first model as soon as their inputs
  exist, then on MELODEX_TRAIN_CRON when their inputs have new data; never while those are being
  computed, and only when the catalog's split passed its blocking leak check.
- ``genre_classifier`` (the champion): whenever a candidate registered new versions.
- ``text_music_projection``: like a candidate, on its inputs (the catalog, MusiCNN embeddings).
- ``genre_predictions`` (per batch): a new batch, or a new champion model; never from a model
  that failed its metric-floor check, and not while a retrain is on its way.

Failures are not retried by automation (each condition fires once per cause): the assets carry a
RetryPolicy for transient errors, a run whose process died (kill -9, OOM) is relaunched once
(dagster_project/instance.py RUN_RETRIES: the daemon under `melodex ui`, `melodex run` for its own
in-process runs), and a batch that still failed stays visible in the UI and `melodex status`.
"""

from __future__ import annotations

import dagster as dg

from melodex_ml.settings import MelodexSettings

AC = dg.AutomationCondition

# A dependency that was materialized or observed since the last evaluation with another data version,
# by a run that did not also compute the target (features and predictions of a batch share a run).
NEW_UPSTREAM_DATA = AC.any_deps_match(
    AC.newly_updated() & AC.data_version_changed() & ~AC.executed_with_root_target()
).with_label("new upstream data")
# "Since last handled" resets on a request only, not on the target's own update: inputs that land
# while the target is running (new features during a training, a new champion while a batch is
# being predicted) must still trigger it once it is done.
REQUESTED = (AC.newly_requested() | AC.initial_evaluation()).with_label("requested")
# Dependencies still being computed, on this tick or in a run in progress.
UPSTREAM_BUSY = AC.any_deps_match(AC.will_be_requested() | AC.in_progress()).with_label("upstream being computed")


def on_new_data(cron: str | None = None) -> dg.AutomationCondition:
    """Run when upstream has new data (and on ``cron`` if given), once per cause."""
    trigger = NEW_UPSTREAM_DATA if cron is None else NEW_UPSTREAM_DATA | AC.cron_tick_passed(cron)
    return (trigger.since(REQUESTED) & ~UPSTREAM_BUSY & ~AC.in_progress()).with_label("on new data")


def on_new_batch() -> dg.AutomationCondition:
    """Each scan batch once; again, while it is still missing, when the asset's code version changes."""
    return (
        (AC.missing().newly_true() | AC.code_version_changed()).since_last_handled()
        & AC.missing()
        & ~AC.any_deps_missing()
        & ~AC.in_progress()
    ).with_label("on new batch")


def on_training_due(cron: str) -> dg.AutomationCondition:
    """The first model once its inputs exist; later retrains on ``cron`` when inputs changed. A new
    code version (it names the weights a candidate fine-tunes) counts as new inputs."""
    due = (AC.missing() | AC.cron_tick_passed(cron).since_last_handled()).with_label(f"first model, or {cron}")
    # The since-conditions come first: an AND narrows its later operands to what the earlier ones
    # left true, and a since-condition must see every tick to remember what happened.
    return (
        (NEW_UPSTREAM_DATA | AC.code_version_changed()).since(REQUESTED).with_label("new inputs since the last training request")
        & due
        & ~UPSTREAM_BUSY
        & ~AC.in_progress()
        & AC.all_deps_blocking_checks_passed()
    ).with_label("on training due")


def on_new_batch_or_champion() -> dg.AutomationCondition:
    """Predict each batch once its inputs exist, and every batch again when the champion changes."""
    model = dg.AssetSelection.assets("genre_classifier")
    # Tracks are read for their paths only: a move or retag does not re-predict the whole library.
    new_inputs = NEW_UPSTREAM_DATA.ignore(dg.AssetSelection.assets("library_tracks"))
    return (
        (AC.missing().newly_true().since_last_handled() | new_inputs.since(REQUESTED))
        # Which inputs a batch needs depends on the champion (descriptors, embeddings or audio):
        # only the model must exist; tracks lacking the champion's inputs are reported as such.
        & ~AC.any_deps_missing().allow(model)
        & ~AC.any_deps_in_progress()
        & ~AC.any_deps_match(AC.will_be_requested() | AC.in_progress()).allow(model).with_label("model being trained")
        & ~AC.in_progress()
        & AC.all_deps_blocking_checks_passed()
    ).with_label("on new batch or champion")


CANDIDATES = ("descriptor_classifier", "embedding_probe_classifiers", "mfcc_cnn_classifier", "wav2vec2_classifier")


def automation_conditions(settings: MelodexSettings) -> dict[str, dg.AutomationCondition]:
    """The condition of every materializable asset, by name."""
    batch = on_new_batch()
    return {
        "library_tracks": on_new_data(settings.scan_cron),
        "dataset_catalog": on_new_data(),
        "caption_embeddings": on_new_data(),
        "track_stems": batch,
        "track_features": batch,
        "track_embeddings": batch,
        "track_encoder_embeddings": batch,
        **{name: on_training_due(settings.train_cron) for name in (*CANDIDATES, "text_music_projection")},
        "genre_classifier": on_new_data(),
        "genre_predictions": on_new_batch_or_champion(),
    }
