"""Tabular audio descriptors per track and per segment, from one decode of each file.

    extractor = FeatureExtractor(ExtractorConfig.from_settings(settings))
    result = extractor.extract(path)              # FeatureResult, or raises AudioDecodeError
    result.rows(track_id)                         # {table: rows} for store.replace_rows
    for track_id, outcome in extract_batch(items, config, workers=2): ...

Tables and units: sql/ddl/020_features.sql and sql/features.md.
"""

from melodex_ml.features.batch import extract_batch
from melodex_ml.features.config import EXTRACTOR_VERSION, ExtractorConfig
from melodex_ml.features.extract import FeatureExtractor
from melodex_ml.features.records import (
    FEATURES_TABLE,
    HEADS_TABLE,
    SEGMENTS_TABLE,
    Descriptors,
    FeatureFailure,
    FeatureResult,
    HeadPrediction,
    Issue,
    Segment,
)

__all__ = [
    "EXTRACTOR_VERSION",
    "FEATURES_TABLE",
    "HEADS_TABLE",
    "SEGMENTS_TABLE",
    "Descriptors",
    "ExtractorConfig",
    "FeatureExtractor",
    "FeatureFailure",
    "FeatureResult",
    "HeadPrediction",
    "Issue",
    "Segment",
    "extract_batch",
]
