"""Descriptors of a scan batch into `features`, `segment_features` and `head_predictions`."""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice

from melodex_ml.bookkeeping import Failure, StageOutcome
from melodex_ml.features.batch import extract_batch
from melodex_ml.features.config import ExtractorConfig
from melodex_ml.features.records import FEATURES_TABLE, HEADS_TABLE, SEGMENTS_TABLE, FeatureFailure
from melodex_ml.models.cache import ModelCache
from melodex_ml.settings import MelodexSettings
from melodex_ml.stages.common import BatchTrack, StageReport, finish_stage, load_batch
from melodex_ml.store import connect, replace_tables

STAGE = "features"
# Results are written every this many tracks: a crash loses at most one chunk of work, and a
# re-run replaces rows by track_id, so nothing is duplicated.
WRITE_EVERY = 25


def _chunks(tracks: list[BatchTrack], size: int) -> Iterable[list[BatchTrack]]:
    iterator = iter(tracks)
    while chunk := list(islice(iterator, size)):
        yield chunk


def extract_batch_features(
    settings: MelodexSettings, batch_id: str, *, cache: ModelCache, run_id: str | None = None
) -> StageReport:
    del cache  # the extractor and its heads live in the process cache (worker processes have their own)
    tracks = load_batch(settings, batch_id)
    config = ExtractorConfig.from_settings(settings)
    n_ok, failures, unavailable = 0, [], set()
    for chunk in _chunks(tracks, WRITE_EVERY):
        by_id = {t.track_id: t for t in chunk}
        tables: dict[str, list[dict]] = {FEATURES_TABLE: [], SEGMENTS_TABLE: [], HEADS_TABLE: []}
        chunk_failures: list[Failure] = []
        for track_id, outcome in extract_batch([(t.track_id, t.path) for t in chunk], config, settings.workers):
            shown = by_id[track_id].display_path
            if isinstance(outcome, FeatureFailure):
                failure = outcome.as_failure()
                chunk_failures.append(Failure(failure.stage, failure.item, failure.error_type, failure.message, shown))
                continue
            for table, rows in outcome.rows(track_id).items():
                tables[table].extend(rows)
            tables[FEATURES_TABLE][-1]["path"] = shown
            unavailable.update(outcome.heads_unavailable)
            n_ok += 1
        with connect(settings.duckdb_path) as con:
            # Failed tracks lose their old rows too: stale descriptors of changed audio are not served.
            replace_tables(con, tables, "track_id", list(by_id))
            outcome = StageOutcome.of(STAGE, batch_id, n_ok=n_ok, n_failed=len(failures) + len(chunk_failures))
            finish_stage(settings, outcome, list(by_id), chunk_failures, run_id=run_id, con=con)
        failures.extend(chunk_failures)
    outcome = StageOutcome.of(STAGE, batch_id, n_ok=n_ok, n_failed=len(failures))
    if not tracks:  # every track of the batch was retired since the scan
        finish_stage(settings, outcome, [], [], run_id=run_id)
    return StageReport(
        outcome,
        {"status": outcome.status, "tracks": n_ok, "failed": len(failures),
         "heads_unavailable": ", ".join(sorted(unavailable)) or "none", "workers": settings.workers},
        failures,
    )
