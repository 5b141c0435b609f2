"""MusiCNN results as rows of the store's tables (sql/ddl/050_musicnn.sql)."""

from __future__ import annotations

from melodex_ml.embeddings.musicnn.records import MusicnnResult

TABLES = ("track_embeddings", "segment_embeddings", "track_tags", "segment_tags")


def result_rows(result: MusicnnResult, track_id: str, batch_id: str) -> dict[str, list[dict]]:
    """One track's rows of every MusiCNN table, for every model it was analysed with."""
    rows: dict[str, list[dict]] = {table: [] for table in TABLES}
    for model, output in result.outputs.items():
        rows["track_embeddings"].append({
            "track_id": track_id, "model": model, "embedding": output.embedding.tolist(), "layer": output.layer,
            "checkpoint_sha256": output.checkpoint_sha256, "n_patches": result.n_patches,
            "flags": list(result.flags), "batch_id": batch_id,
        })  # fmt: skip
        rows["track_tags"] += [
            {"track_id": track_id, "model": model, "label": label, "probability": float(p)}
            for label, p in zip(output.labels, output.tags, strict=True)
        ]
        for segment, vector, tags in zip(result.segments, output.segment_embeddings, output.segment_tags, strict=True):
            rows["segment_embeddings"].append({
                "track_id": track_id, "model": model, "segment_index": segment.index, "start_s": segment.start_s,
                "end_s": segment.end_s, "embedding": vector.tolist(),
            })  # fmt: skip
            rows["segment_tags"] += [
                {"track_id": track_id, "model": model, "segment_index": segment.index, "label": label,
                 "probability": float(p)}
                for label, p in zip(output.labels, tags, strict=True)
            ]  # fmt: skip
    return rows
