"""Tabular audio descriptors per track and per segment, from one decode of each file.

    extractor = FeatureExtractor(ExtractorConfig.from_settings(settings))
    result = extractor.extract(path)              # FeatureResult, or raises AudioDecodeError
    result.rows(track_id)                         # {table: rows} for store.replace_rows
    for track_id, outcome in extract_batch(items, config, workers=2): ...

Tables and units: sql/ddl/020_features.sql and sql/features.md.

The names below load on first use (PEP 562): the extractor pulls in librosa and scipy.signal, about
a second of imports, which light submodules (``features.resample`` for MusiCNN, ``features.records``
for the store) must not pay for.
"""

from importlib import import_module

_EXPORTS = {
    "extract_batch": "batch",
    "EXTRACTOR_VERSION": "config",
    "ExtractorConfig": "config",
    "FeatureExtractor": "extract",
    **dict.fromkeys(
        [
            "FEATURES_TABLE", "HEADS_TABLE", "SEGMENTS_TABLE", "Descriptors", "FeatureFailure", "FeatureResult",
            "HeadPrediction", "Issue", "Segment",
        ],
        "records",
    ),
}  # fmt: skip

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
