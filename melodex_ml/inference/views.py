"""SQL views over the JSONL prediction partitions (the files stay the source of truth)."""

from __future__ import annotations

from pathlib import Path

import duckdb


def create_prediction_views(con: duckdb.DuckDBPyConnection, predictions_dir: Path) -> None:
    """`genre_predictions`: one row per live track, from its newest partition file (batch ids sort
    by time); `segment_predictions`: one row per segment and label of those tracks."""
    pattern = str(Path(predictions_dir) / "*.jsonl").replace("'", "''")
    con.execute(
        "CREATE OR REPLACE VIEW genre_predictions AS SELECT p.* FROM "
        f"read_json('{pattern}', format = 'newline_delimited', filename = true) p "
        "SEMI JOIN live_tracks t ON t.track_id = p.track_id "
        "QUALIFY row_number() OVER (PARTITION BY p.track_id ORDER BY p.filename DESC) = 1"
    )
