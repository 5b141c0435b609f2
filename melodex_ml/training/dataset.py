"""Turn the feature store into a supervised dataset: one row per 30-second segment."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

# Columns of segment_features that locate a segment rather than describe its sound.
POSITION_COLUMNS = frozenset({"track_id", "segment_index", "start_s", "end_s", "batch_id"})


@dataclass(frozen=True)
class SegmentDataset:
    features: np.ndarray  # (n_segments, n_features) float32
    feature_names: list[str]
    labels: np.ndarray  # (n_segments,) str, empty strings when unlabeled
    track_ids: np.ndarray  # (n_segments,) str
    groups: np.ndarray  # (n_segments,) str: artist, or the track when the artist is unknown
    splits: np.ndarray  # (n_segments,) str: the track's dataset_catalog split (train|val|test), '' if not catalogued
    segment_index: np.ndarray
    start_s: np.ndarray
    end_s: np.ndarray

    def __len__(self) -> int:
        return len(self.track_ids)

    def labeled(self) -> SegmentDataset:
        return self.subset(self.labels != "")

    def subset(self, mask: np.ndarray) -> SegmentDataset:
        return SegmentDataset(
            self.features[mask], self.feature_names, self.labels[mask], self.track_ids[mask],
            self.groups[mask], self.splits[mask], self.segment_index[mask], self.start_s[mask], self.end_s[mask],
        )


def expand_descriptor_columns(frame: pd.DataFrame, names: list[str] | None = None) -> tuple[np.ndarray, list[str]]:
    """Numeric columns as-is, fixed-length numeric lists (MFCC means, chroma) one column per bin.

    With ``names`` given, the result follows exactly that column order (inference must see
    the columns training saw); a missing column is all-NaN for the imputer to fill.
    """
    columns: dict[str, np.ndarray] = {}
    for col in frame.columns:
        if col in POSITION_COLUMNS:
            continue
        series = frame[col]
        if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
            columns[col] = series.to_numpy(dtype=np.float64, na_value=np.nan)
        elif series.map(lambda v: isinstance(v, (list, np.ndarray))).all() and len(series):
            width = max(len(v) for v in series)
            matrix = np.full((len(series), width), np.nan)
            for i, v in enumerate(series):
                matrix[i, : len(v)] = np.asarray(v, dtype=np.float64)
            for j in range(width):
                columns[f"{col}[{j}]"] = matrix[:, j]
    if names is None:
        names = sorted(columns)
    n = len(frame)
    matrix = np.column_stack([columns.get(name, np.full(n, np.nan)) for name in names]) if names else np.empty((n, 0))
    matrix[~np.isfinite(matrix)] = np.nan
    return matrix.astype(np.float32), names


def load_segment_dataset(
    con: duckdb.DuckDBPyConnection, *, track_ids: list[str] | None = None, feature_names: list[str] | None = None
) -> SegmentDataset:
    """Segments of live tracks with their first genre tag as label (may be empty) and the split
    the unified catalog gave the track (so every model is scored on the catalog's held-out tracks)."""
    where = "WHERE s.track_id IN (SELECT UNNEST(?))" if track_ids is not None else ""
    params = [track_ids] if track_ids is not None else []
    frame = con.execute(
        f"""
        SELECT s.*,
               coalesce(lower(trim(t.genres[1])), '') AS _label,
               coalesce(nullif(t.artist, ''), s.track_id) AS _group,
               coalesce(c.split, '') AS _split
        FROM segment_features s
        JOIN live_tracks t USING (track_id)
        LEFT JOIN dataset_catalog c ON c.dataset = 'library' AND c.source_id = s.track_id
        {where}
        ORDER BY s.track_id, s.segment_index
        """,
        params,
    ).df()
    labels = frame.pop("_label").to_numpy(dtype=str)
    groups = frame.pop("_group").to_numpy(dtype=str)
    splits = frame.pop("_split").to_numpy(dtype=str)
    matrix, names = expand_descriptor_columns(frame, feature_names)
    return SegmentDataset(
        features=matrix,
        feature_names=names,
        labels=labels,
        track_ids=frame["track_id"].to_numpy(dtype=str),
        groups=groups,
        splits=splits,
        segment_index=frame["segment_index"].to_numpy(dtype=np.int64),
        start_s=frame["start_s"].to_numpy(dtype=np.float64),
        end_s=frame["end_s"].to_numpy(dtype=np.float64),
    )
