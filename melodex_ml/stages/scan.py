"""Incremental library scan: update `tracks`, batch the new and changed ones for downstream stages."""

from __future__ import annotations

from dataclasses import asdict

from melodex_ml.bookkeeping import StageOutcome
from melodex_ml.catalog.scan import format_scan_summary, scan_library
from melodex_ml.settings import MelodexSettings
from melodex_ml.stages.common import StageReport, content_version, finish_stage
from melodex_ml.store import connect

STAGE = "scan"
# What downstream stages read of a track: a rescan that changes none of it is no new data.
TRACK_CONTENT = (
    "SELECT track_id, path, audio_hash, duration_s, title, artist, album, album_artist, genres, year, "
    "track_number, disc_number FROM live_tracks"
)


def scan_and_batch(settings: MelodexSettings, *, run_id: str | None = None) -> StageReport:
    """Scan every configured root (always all of them: tracks outside the roots scanned are retired)."""
    # A factory, not a connection: the store is locked only to read state and to write the result.
    result = scan_library(lambda: connect(settings.duckdb_path), settings.roots, batch_size=settings.batch_size)
    with connect(settings.duckdb_path) as con:
        known_batches = [row[0] for row in con.execute("SELECT DISTINCT batch_id FROM track_batches").fetchall()]
        counts = asdict(result.counts)
        outcome = StageOutcome.of(STAGE, "", n_ok=counts["seen"] - counts["failed"], n_failed=counts["failed"],
                                  detail=result.scan_id)
        finish_stage(settings, outcome, [], [], run_id=run_id, con=con)
        version = content_version(con, TRACK_CONTENT)
        live = con.execute("SELECT count(*) FROM live_tracks").fetchone()[0]
    return StageReport(
        outcome,
        {**counts, "scan_id": result.scan_id, "batch_ids": list(result.batch_ids), "known_batch_ids": known_batches,
         "duration_s": round(result.duration_s, 3), "summary": format_scan_summary(result), "row_count": live},
        data_version=version,
    )
