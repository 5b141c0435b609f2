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
    # Labels are the keys of each segment's `predictions` object: a map, whatever the champion's labels.
    con.execute(
        """
        CREATE OR REPLACE VIEW segment_predictions AS
        WITH segment AS (
            SELECT p.track_id, p.audio_file, p.model.version AS model_version, s.segment_index, s.start_time,
                   s.end_time, map_entries(CAST(to_json(s.predictions) AS MAP(VARCHAR, DOUBLE))) AS entries
            FROM genre_predictions p, unnest(p.segments) AS u(s)
        )
        SELECT track_id, audio_file, model_version, segment_index, start_time, end_time,
               e.key AS label, e.value AS probability
        FROM segment, unnest(entries) AS v(e)
        """
    )
