"""The unified research-dataset catalog, built from the configured dataset roots and the library."""

from __future__ import annotations

from dataclasses import dataclass

from melodex_ml.bookkeeping import StageOutcome
from melodex_ml.catalog.unify import UnifyOptions, format_summary, unify, write_catalog
from melodex_ml.settings import MelodexSettings
from melodex_ml.stages.common import StageReport, content_version, finish_stage
from melodex_ml.store import connect

STAGE = "catalog"
LIBRARY_COLUMNS = "track_id, path, title, artist, album, genres, duration_s"
# Everything but the build time: a rebuild that selects and splits the same records is no new data.
CATALOG_CONTENT = "SELECT * EXCLUDE (built_at) FROM dataset_catalog"


def default_datasets(settings: MelodexSettings) -> list[str]:
    """Every dataset with a configured root, plus the user's own library."""
    return [*settings.dataset_roots, "library"]


def unify_options(settings: MelodexSettings, **choices: object) -> UnifyOptions:
    """Options from settings (roots, seed) and the caller's choices; None choices keep defaults."""
    chosen = {k: v for k, v in choices.items() if v is not None}
    chosen.setdefault("datasets", default_datasets(settings))
    chosen.setdefault("seed", settings.seed)
    return UnifyOptions(roots=dict(settings.dataset_roots), **chosen)


def build_dataset_catalog(settings: MelodexSettings, options: UnifyOptions, *, run_id: str | None = None) -> StageReport:
    library_tracks = None
    if "library" in options.datasets:
        # Reading takes no write lock; only a store that does not exist yet is created (empty).
        read_only = settings.duckdb_path.exists()
        with connect(settings.duckdb_path, read_only=read_only) as con:
            result = con.execute(f"SELECT {LIBRARY_COLUMNS} FROM live_tracks ORDER BY track_id")
            names = [d[0] for d in result.description]
            library_tracks = [dict(zip(names, row, strict=True)) for row in result.fetchall()]
    result = unify(options, library_tracks=library_tracks)
    summary = result.summary
    metadata = {
        "summary": format_summary(result),
        "records": len(result.records),
        "errors": len(result.errors),
        "datasets_built": ", ".join(summary.built),
        "datasets_failed": ", ".join(summary.failed),
        "dry_run": options.dry_run,
        "split_by_artist": options.split_by_artist,
        "row_count": len(result.records),
    }
    if options.dry_run:
        return StageReport(StageOutcome(STAGE, "", "skipped", "dry run"), metadata)
    with connect(settings.duckdb_path) as con:
        write_catalog(con, result)
        outcome = StageOutcome.of(STAGE, "", n_ok=len(result.records), n_failed=len(result.errors),
                                  detail=f"built: {', '.join(summary.built) or '-'}; failed: {', '.join(summary.failed) or '-'}")
        finish_stage(settings, outcome, [], [], run_id=run_id, con=con)
        version = content_version(con, CATALOG_CONTENT)
    return StageReport(outcome, metadata, data_version=version)



@dataclass(frozen=True)
class SplitLeaks:
    """Groups found on more than one side of the catalog's train/val/test split."""

    tracks: list[str]  # track_key values
    artists: list[str]  # artist_key values

    @property
    def examples(self) -> str:
        shown = [f"track {t}" for t in self.tracks[:5]] + [f"artist {a}" for a in self.artists[:5]]
        return ", ".join(shown) or "none"


def find_split_leaks(settings: MelodexSettings) -> SplitLeaks:
    """Recordings and artists of the stored catalog that sit in more than one split."""
    def leaking(column: str) -> list[str]:
        rows = con.execute(
            f"SELECT {column} FROM dataset_catalog WHERE {column} IS NOT NULL "
            f"GROUP BY {column} HAVING count(DISTINCT split) > 1 ORDER BY {column}"
        ).fetchall()
        return [row[0] for row in rows]

    with connect(settings.duckdb_path, read_only=True) as con:
        return SplitLeaks(tracks=leaking("track_key"), artists=leaking("artist_key"))
