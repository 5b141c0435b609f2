"""models: candidate genre classifiers, each trained on what it reads, and the champion among them."""

import dagster as dg

from melodex_assets.catalog import DATA_VERSION_TAG, dataset_catalog, library_tracks
from melodex_assets.embeddings import track_embeddings, track_encoder_embeddings
from melodex_assets.features import track_features
from melodex_assets.resources import ModelLoaderResource, run_tags
from melodex_assets.results import stage_events
from melodex_ml.settings import MelodexSettings


def candidate_asset(name: str, family: str, deps: list, kinds: set[str], description: str, **asset_options):
    """One candidate family as an asset: trains on the shared split, logs and registers in MLflow.
    Its data version names the versions it registered; not enough labels or no inputs: skipped."""

    @dg.asset(name=name, group_name="models", deps=deps, kinds={"mlflow", *kinds}, description=description,
              output_required=False, **asset_options)  # fmt: skip
    def candidate(context: dg.AssetExecutionContext, settings: dg.ResourceParam[MelodexSettings]):
        from melodex_ml.stages import models

        yield from stage_events(
            context, settings,
            lambda: models.train_candidates(settings, family, tags=run_tags(context), run_id=context.run.run_id),
        )

    return candidate


LABELS_AND_SPLIT = [library_tracks, dataset_catalog]  # every candidate: the tags (labels) and the catalog (split)

descriptor_classifier = candidate_asset(
    "descriptor_classifier", "descriptors", [track_features, *LABELS_AND_SPLIT], {"sklearn"},
    "The baseline: logistic regression on the segment descriptors (`segment_features`).",
)
embedding_probe_classifiers = candidate_asset(
    "embedding_probe_classifiers", "embedding_probes", [track_embeddings, track_encoder_embeddings, *LABELS_AND_SPLIT], {"sklearn", "pytorch"},
    "Logistic regression and a small MLP on each stored encoder's segment embeddings (MusiCNN by default), "
    "and zero-shot-tags: the genre names mapped onto the stored MusiCNN segment tags, nothing trained.",
)
mfcc_cnn_classifier = candidate_asset(
    "mfcc_cnn_classifier", "mfcc_cnn", LABELS_AND_SPLIT, {"pytorch"},
    "The MFCC CNN recipe (conv 32/48, batch-norm, spatial dropout, Adam 8e-4, early stopping) on 30 s "
    "segments read from the audio files, with track-level splits.",
    pool="gpu",
)
wav2vec2_classifier = candidate_asset(
    "wav2vec2_classifier", "wav2vec2", LABELS_AND_SPLIT, {"pytorch", "huggingface"},
    "A pretrained wav2vec2-family encoder (MELODEX_CLASSIFIER_ENCODER) fine-tuned with a pooled "
    "classification head through the Hugging Face Trainer; skipped while none is configured.",
    pool="gpu",
)
CANDIDATE_ASSETS = [descriptor_classifier, embedding_probe_classifiers, mfcc_cnn_classifier, wav2vec2_classifier]


@dg.asset(group_name="models", deps=CANDIDATE_ASSETS, kinds={"mlflow"}, output_required=False)
def genre_classifier(context: dg.AssetExecutionContext, settings: dg.ResourceParam[MelodexSettings]):
    """The champion: the `champion` alias of `melodex-genre-classifier` goes to the candidate version
    with the best held-out macro F1 on the current shared split; a retrain that is not better keeps
    it. Its data version is the champion, so inference re-runs only when the champion changes."""
    from melodex_ml.stages import models

    yield from stage_events(context, settings, lambda: models.select_champion(settings, run_id=context.run.run_id))


@dg.asset_check(asset=genre_classifier, blocking=True)
def champion_metric_floor(settings: dg.ResourceParam[MelodexSettings]):
    """The champion's held-out macro F1 reaches MELODEX_MODEL_METRIC_FLOOR. Blocking: inference
    does not run from a model that failed it."""
    from melodex_ml import registry

    champion = registry.champion_score(settings)
    score = champion.score if champion else None
    return dg.AssetCheckResult(
        passed=score is not None and score >= settings.model_metric_floor,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"metric": registry.SELECTION_METRIC, "champion_score": score if score is not None else float("nan"),
                  "champion": champion.identity if champion else "none", "floor": settings.model_metric_floor},
    )


def champion_catch_up(
    instance: dg.DagsterInstance, settings: MelodexSettings
) -> tuple[dg.AssetMaterialization, dg.AssetCheckEvaluation] | None:
    """A materialization of `genre_classifier` for a champion that MLflow has and Dagster never
    recorded (the process was killed after moving the alias), with its metric-floor check:
    inference then follows it, once validated, as after any champion choice."""
    if not settings.mlflow_store_exists:
        return None
    from melodex_ml import registry

    champion = registry.champion_score(settings)
    if champion is None:
        return None
    latest = instance.get_latest_materialization_event(genre_classifier.key)
    if latest is not None and latest.asset_materialization.tags.get(DATA_VERSION_TAG) == champion.identity:
        return None
    materialization = dg.AssetMaterialization(
        genre_classifier.key,
        description="recorded at start-up: the run that chose this champion ended before reporting it",
        metadata={"champion": champion.identity},
        tags={DATA_VERSION_TAG: champion.identity},
    )
    floor = champion_metric_floor(settings=settings)
    check = dg.AssetCheckEvaluation(
        asset_key=genre_classifier.key, check_name="champion_metric_floor", passed=floor.passed,
        severity=floor.severity, metadata=floor.metadata, blocking=True,
    )
    return materialization, check


@dg.asset(
    group_name="models", deps=[dataset_catalog, track_embeddings], kinds={"mlflow", "pytorch"}, pool="gpu",
    output_required=False,
)
def text_music_projection(
    context: dg.AssetExecutionContext, settings: dg.ResourceParam[MelodexSettings], models: ModelLoaderResource
):
    """Audio (MusiCNN) and caption (bundled sentence encoder) embeddings projected into one space with a
    contrastive loss, trained on the catalog's captions (research clips are analysed with MusiCNN here);
    held-out recall@1/5/10 and median rank, next to the zero-shot tag search on the same queries.
    `melodex search` uses it only when it retrieves better."""
    from melodex_ml.stages import projection

    yield from stage_events(
        context, settings,
        lambda: projection.train_text_projection(
            settings, cache=models.cache, device=models.device, tags=run_tags(context), run_id=context.run.run_id
        ),
        extra=models.load_report,
    )
