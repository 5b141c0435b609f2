"""Jobs for launching a stage by hand from the UI or the CLI; automation does not need them."""

import dagster as dg

library_scan_job = dg.define_asset_job(
    "library_scan_job",
    selection=dg.AssetSelection.assets("library_tracks"),
    description="Scan the library roots now: update `tracks` and register new scan batches.",
)

process_scan_batch_job = dg.define_asset_job(
    "process_scan_batch_job",
    # Named, not by group: the embeddings group also holds the unpartitioned caption_embeddings.
    selection=dg.AssetSelection.assets(
        "track_stems", "track_features", "track_embeddings", "track_encoder_embeddings", "genre_predictions"
    ),
    description="Stems, features, embeddings and predictions of one scan batch, in one run (pick the partition).",
)

train_genre_classifier_job = dg.define_asset_job(
    "train_genre_classifier_job",
    selection=dg.AssetSelection.assets("genre_classifier"),
    description="Retrain the genre classifier now (automation retrains on MELODEX_TRAIN_CRON).",
)

dataset_catalog_job = dg.define_asset_job(
    "dataset_catalog_job",
    selection=dg.AssetSelection.assets("dataset_catalog", "caption_embeddings"),
    description="Unify the research datasets and the library into one catalog and embed its captions.",
)

JOBS = [library_scan_job, process_scan_batch_job, train_genre_classifier_job, dataset_catalog_job]
