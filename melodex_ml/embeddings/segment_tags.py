"""MusiCNN segment tag probabilities as one 100-value vector per segment (the ``tags:musicnn`` input kind).

The embeddings stage stores them long, one row per (track, model, segment, label) in ``segment_tags``
(sql/ddl/050_musicnn.sql), and their bounds in ``segment_embeddings``. Models that read tags (the
zero-shot genre mapping) want them wide: per segment, msd-musicnn's 50 probabilities then
mtt-musicnn's 50, each in its network's label order (:data:`TAG_MODELS`, :func:`tag_columns`). The
store and a fresh tagger result (ad-hoc files) are turned into that layout here, in one place, so
training, stored inference and ``melodex predict`` cannot disagree on a column.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import duckdb
import numpy as np

from melodex_ml.embeddings.musicnn.specs import MODELS

TAG_MODELS = ("msd-musicnn", "mtt-musicnn")  # column order: msd's tags first, then mtt's


def tag_columns(models: Sequence[str] = TAG_MODELS) -> tuple[tuple[str, str], ...]:
    """(model, label) of every column, in the input kind's order ("guitar" is in both networks: two columns)."""
    return tuple((model, label) for model in models for label in MODELS[model].labels)


@dataclass(frozen=True)
class SegmentTags:
    """One row per segment that has every column's probability, sorted by track and segment index."""

    track_ids: np.ndarray  # (n,) str
    segment_index: np.ndarray  # (n,) int64
    start_s: np.ndarray  # (n,) float64
    end_s: np.ndarray  # (n,) float64
    values: np.ndarray = field(repr=False)  # (n, len(tag_columns())) float32
    n_incomplete: int = 0  # segments left out because some model's tags were missing

    def __len__(self) -> int:
        return len(self.track_ids)

    @property
    def dim(self) -> int:
        return int(self.values.shape[1])

    def tracks(self) -> set[str]:
        return set(self.track_ids.tolist())

    def rows_of(self, track_ids: Iterable[str]) -> SegmentTags:
        mask = np.isin(self.track_ids, np.asarray(list(track_ids), dtype=str))
        return SegmentTags(self.track_ids[mask], self.segment_index[mask], self.start_s[mask], self.end_s[mask],
                           self.values[mask])  # fmt: skip


def read_segment_tags(con: duckdb.DuckDBPyConnection, track_ids: Iterable[str] | None = None) -> SegmentTags:
    """The stored segment tag vectors of ``track_ids`` (default: every track).

    A segment missing any column (one network's rows absent) is left out and counted in ``n_incomplete``:
    a zero in its place would read as "the tag is absent", which the network never said.
    """
    columns = tag_columns()
    keys = [f"{model}\x1f{label}" for model, label in columns]
    wanted = "" if track_ids is None else "WHERE track_id IN (SELECT unnest($ids))"
    rows = con.execute(
        f"""
        WITH bounds AS (  -- both networks share the segments; their rows carry the bounds
            SELECT track_id, segment_index, min(start_s) AS start_s, max(end_s) AS end_s
            FROM segment_embeddings {wanted} GROUP BY ALL
        )
        SELECT g.track_id, g.segment_index, b.start_s, b.end_s,
               list_position($keys, g.model || chr(31) || g.label) AS col, g.probability,
               dense_rank() OVER (ORDER BY g.track_id, g.segment_index) - 1 AS row
        FROM segment_tags g JOIN bounds b USING (track_id, segment_index)
        {wanted}
        ORDER BY g.track_id, g.segment_index
        """,
        {"keys": keys} | ({} if track_ids is None else {"ids": [str(t) for t in track_ids]}),
    ).fetchnumpy()
    n_rows = int(rows["row"].max()) + 1 if len(rows["row"]) else 0
    known = ~np.ma.getmaskarray(np.ma.asarray(rows["col"]))  # labels outside the vocabulary have no column
    row = np.asarray(rows["row"], dtype=np.int64)[known]
    col = np.ma.filled(np.ma.asarray(rows["col"]), 1).astype(np.int64)[known] - 1
    values = np.zeros((n_rows, len(columns)), dtype=np.float32)
    filled = np.zeros((n_rows, len(columns)), dtype=bool)
    values[row, col] = np.asarray(rows["probability"], dtype=np.float32)[known]
    filled[row, col] = True
    complete = filled.all(axis=1)
    first = np.unique(np.asarray(rows["row"], dtype=np.int64), return_index=True)[1]  # a row's first tag row

    def per_row(name: str, dtype) -> np.ndarray:
        return np.asarray(np.ma.filled(np.ma.asarray(rows[name])[first]), dtype=dtype)[complete]

    return SegmentTags(
        per_row("track_id", str), per_row("segment_index", np.int64), per_row("start_s", np.float64),
        per_row("end_s", np.float64), values[complete], int((~complete).sum()),
    )  # fmt: skip


def result_tag_vectors(result) -> np.ndarray:
    """(n_segments, 100) vectors of a :class:`~melodex_ml.embeddings.musicnn.records.MusicnnResult` (both networks)."""
    parts = []
    for model in TAG_MODELS:
        if model not in result.outputs:
            raise ValueError(f"the MusiCNN result has no {model} output; the tag vector needs both networks")
        output = result.outputs[model]
        if tuple(output.labels) != MODELS[model].labels:
            raise ValueError(f"{model} returned its tags in another order than its label list")
        parts.append(np.asarray(output.segment_tags, dtype=np.float32))
    return np.concatenate(parts, axis=1)
