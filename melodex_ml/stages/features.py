"""Descriptors of a scan batch into `features`, `segment_features` and `head_predictions`."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from melodex_ml.bookkeeping import Failure, StageOutcome
from melodex_ml.features.batch import extract_batch
from melodex_ml.features.config import ExtractorConfig
from melodex_ml.features.records import FEATURES_TABLE, HEADS_TABLE, SEGMENTS_TABLE, FeatureFailure, FeatureResult
from melodex_ml.settings import MelodexSettings
from melodex_ml.stages.common import StageReport, finish_stage, load_batch, records_failure
from melodex_ml.store import connect, replace_tables

STAGE = "features"
# Results are written as they arrive, every this many tracks: a crash loses at most one chunk of
# work, and a re-run replaces rows by track_id, so nothing is duplicated.
WRITE_EVERY = 25


@dataclass
class _Progress:
    batch_id: str
    n_ok: int = 0
    failures: list[Failure] = field(default_factory=list)
    heads_unavailable: set[str] = field(default_factory=set)

    def outcome(self, *, final: bool) -> StageOutcome:
        outcome = StageOutcome.of(STAGE, self.batch_id, n_ok=self.n_ok, n_failed=len(self.failures))
        return outcome if final else replace(outcome, status="running")


@records_failure(STAGE)
def extract_batch_features(settings: MelodexSettings, batch_id: str, *, run_id: str | None = None) -> StageReport:
    tracks = load_batch(settings, batch_id)
    shown = {t.track_id: t.display_path for t in tracks}
    progress = _Progress(batch_id)
    pending: list[tuple[str, FeatureResult | FeatureFailure]] = []

    def flush() -> None:
        tables: dict[str, list[dict]] = {FEATURES_TABLE: [], SEGMENTS_TABLE: [], HEADS_TABLE: []}
        failures = []
        for track_id, result in pending:
            if isinstance(result, FeatureFailure):
                failure = result.as_failure()
                failures.append(Failure(failure.stage, track_id, failure.error_type, failure.message, shown[track_id]))
                continue
            for table, rows in result.rows(track_id).items():
                tables[table].extend(rows)
            tables[FEATURES_TABLE][-1]["path"] = shown[track_id]  # the exact name may not be valid UTF-8
            progress.heads_unavailable.update(result.heads_unavailable)
            progress.n_ok += 1
        progress.failures.extend(failures)
        ids = [track_id for track_id, _ in pending]
        with connect(settings.duckdb_path) as con:
            # A failed track loses its old rows too: stale descriptors of changed audio are not served.
            replace_tables(con, tables, "track_id", ids)
            finish_stage(settings, progress.outcome(final=False), ids, failures, run_id=run_id, con=con)
        pending.clear()

    config = ExtractorConfig.from_settings(settings)
    for item in extract_batch([(t.track_id, t.path) for t in tracks], config, settings.workers):
        pending.append(item)
        if len(pending) >= WRITE_EVERY:
            flush()
    flush()
    outcome = progress.outcome(final=True)
    finish_stage(settings, outcome, [], [], run_id=run_id)
    return StageReport(
        outcome,
        {"status": outcome.status, "tracks": progress.n_ok, "failed": len(progress.failures),
         "heads_unavailable": ", ".join(sorted(progress.heads_unavailable)) or "none", "workers": settings.workers},
        progress.failures,
    )
