"""Unify research datasets into one catalog: parse, validate, filter, sample, split, store.

``unify(options)`` does everything but writing, so it is also what a dry run reports;
``write_catalog``, ``export_json`` and ``export_parquet`` store its result. A dataset that cannot
be read (no root, no metadata) is reported and skipped, a bad row or record is reported and
skipped, and the rest always goes on.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from ..store import replace_rows
from .datasets import DATASETS, fma, gtzan, jamendo_max_caps, library, mtg_jamendo, musiccaps, song_describer
from .datasets.records import (
    CATALOG_SCHEMA,
    SPLITS,
    CatalogError,
    CatalogRecord,
    DatasetUnavailable,
    Deduplicator,
    Parsed,
    Reason,
)
from .sampling import DEFAULT_DURATION_BINS, STRATIFY_CHOICES, Stratify, filter_duration, select
from .splits import DEFAULT_RATIOS, assign_splits, check_ratios

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UnifyOptions:
    """Everything a unification run needs; the CLI and the Dagster asset config both build one.

    ``roots`` maps a dataset name to its folder (the library dataset needs none: its rows are passed
    to ``unify``). ``audio_dirs`` overrides where a dataset's audio lives when it is not under the
    root. ``dataset_caps`` overrides ``samples_per_dataset`` for the datasets it names.
    """

    datasets: list[str]
    roots: dict[str, Path] = field(default_factory=dict)
    max_samples: int | None = None
    stratify_by: Stratify = "none"
    samples_per_dataset: int | None = None
    dataset_caps: dict[str, int] = field(default_factory=dict)
    min_duration: float | None = None
    max_duration: float | None = None
    seed: int = 42
    split_ratios: tuple[float, float, float] = DEFAULT_RATIOS
    split_by_artist: bool = True
    use_official_splits: bool = False
    dry_run: bool = False
    duration_bins: tuple[float, ...] = DEFAULT_DURATION_BINS
    audio_dirs: dict[str, Path] = field(default_factory=dict)
    fma_size: str = "small"
    mtg_jamendo_audio_suffix: str = ".mp3"

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalise the inputs once, here
        set_(self, "datasets", list(dict.fromkeys(self.datasets)))
        set_(self, "roots", {k: Path(v).expanduser() for k, v in self.roots.items()})
        set_(self, "audio_dirs", {k: Path(v).expanduser() for k, v in self.audio_dirs.items()})
        set_(self, "split_ratios", check_ratios(self.split_ratios))
        set_(self, "duration_bins", tuple(sorted(float(b) for b in self.duration_bins)))
        named = set(self.datasets) | set(self.roots) | set(self.audio_dirs) | set(self.dataset_caps)
        unknown = sorted(named - set(DATASETS))
        if unknown:
            raise ValueError(f"unknown dataset(s) {unknown}; known: {', '.join(DATASETS)}")
        if not self.datasets:
            raise ValueError("no datasets to unify")
        if self.stratify_by not in STRATIFY_CHOICES:
            raise ValueError(f"stratify_by must be one of {STRATIFY_CHOICES}, not {self.stratify_by!r}")
        if self.fma_size not in fma.SIZES:
            raise ValueError(f"fma_size must be one of {fma.SIZES}, not {self.fma_size!r}")
        for name in ("max_samples", "samples_per_dataset"):
            if (value := getattr(self, name)) is not None and value < 0:
                raise ValueError(f"{name} must be >= 0, not {value}")
        if self.min_duration is not None and self.max_duration is not None and self.min_duration > self.max_duration:
            raise ValueError(f"min_duration {self.min_duration} is above max_duration {self.max_duration}")


@dataclass(frozen=True)
class DatasetSummary:
    parsed: int  # valid records
    outside_duration: int  # valid but dropped by min/max duration
    selected: int
    splits: dict[str, int]
    errors: dict[str, int]  # reason -> count
    failure: str | None = None  # why the whole dataset could not be read


@dataclass(frozen=True)
class UnifySummary:
    dry_run: bool
    datasets: dict[str, DatasetSummary]
    groups: int  # split groups (connected tracks/artists)
    official_conflicts: int

    @property
    def built(self) -> list[str]:
        """Datasets that were read; their catalog rows are replaced when the result is written."""
        return [name for name, s in self.datasets.items() if s.failure is None]

    @property
    def failed(self) -> list[str]:
        return [name for name, s in self.datasets.items() if s.failure is not None]


@dataclass(frozen=True)
class UnifyResult:
    records: list[CatalogRecord]  # selected, split, sorted by id
    errors: list[CatalogError]
    summary: UnifySummary


def _parser(name: str, options: UnifyOptions, library_tracks: Iterable[Mapping[str, Any]] | None) -> Iterator[Parsed]:
    if name == "library":
        if library_tracks is None:
            raise DatasetUnavailable(Reason.MISSING_ROOT, "library: requested but no library tracks were given")
        return library.parse(library_tracks)
    root = options.roots.get(name)
    if root is None:
        raise DatasetUnavailable(Reason.MISSING_ROOT, f"{name}: no root configured (roots['{name}'])")
    if not root.is_dir():
        raise DatasetUnavailable(Reason.MISSING_ROOT, f"{name}: root {root} does not exist or is not a folder")
    audio_dir = options.audio_dirs.get(name)
    match name:
        case "song_describer":
            return song_describer.parse(root, audio_dir=audio_dir)
        case "fma":
            return fma.parse(root, size=options.fma_size, audio_dir=audio_dir)
        case "mtg_jamendo":
            return mtg_jamendo.parse(root, audio_dir=audio_dir, audio_suffix=options.mtg_jamendo_audio_suffix)
        case "jamendo_max_caps":
            return jamendo_max_caps.parse(root, audio_dir=audio_dir)
        case "musiccaps":
            return musiccaps.parse(root, audio_dir=audio_dir)
        case "gtzan":
            return gtzan.parse(root, audio_dir=audio_dir)
    raise ValueError(f"no parser for {name!r}")


def _read_dataset(
    name: str, options: UnifyOptions, library_tracks: Iterable[Mapping[str, Any]] | None
) -> tuple[list[CatalogRecord], list[CatalogError], str | None]:
    """Records, errors, and the reason the dataset as a whole failed (then it gives no records)."""
    records: list[CatalogRecord] = []
    errors: list[CatalogError] = []
    try:
        for item in _parser(name, options, library_tracks):
            (errors if isinstance(item, CatalogError) else records).append(item)
    except DatasetUnavailable as exc:
        errors.append(CatalogError(name, name, exc.reason, exc.message, path=_root_text(options, name)))
        return [], errors, exc.message
    except Exception as exc:  # noqa: BLE001 - e.g. an I/O error mid-file: report it, go on with other datasets
        message = f"{name}: reading failed after {len(records)} records: {type(exc).__name__}: {exc}"
        log.exception(message)
        errors.append(CatalogError(name, name, Reason.UNREADABLE_METADATA, message, path=_root_text(options, name)))
        return [], errors, message
    return records, errors, None


def _root_text(options: UnifyOptions, name: str) -> str | None:
    root = options.roots.get(name)
    return None if root is None else str(root)


def unify(options: UnifyOptions, library_tracks: Iterable[Mapping[str, Any]] | None = None) -> UnifyResult:
    """Parse every requested dataset, validate, filter by duration, sample and split."""
    valid: list[CatalogRecord] = []
    errors: list[CatalogError] = []
    failures: dict[str, str | None] = {}
    ids = Deduplicator()
    for name in options.datasets:
        records, dataset_errors, failures[name] = _read_dataset(name, options, library_tracks)
        errors.extend(dataset_errors)
        for record in records:
            checked = ids.check(record, where=record.audio_path)
            (valid if isinstance(checked, CatalogRecord) else errors).append(checked)
        log.info("%s: %d records, %d errors", name, len(records), len(dataset_errors))

    kept, dropped = filter_duration(valid, options.min_duration, options.max_duration)
    selected = select(
        kept,
        max_samples=options.max_samples,
        stratify_by=options.stratify_by,
        samples_per_dataset=options.samples_per_dataset,
        dataset_caps=options.dataset_caps,
        seed=options.seed,
        duration_bins=options.duration_bins,
    )
    outcome = assign_splits(
        selected,
        ratios=options.split_ratios,
        by_artist=options.split_by_artist,
        use_official=options.use_official_splits,
        seed=options.seed,
    )
    summary = _summarise(options, valid, dropped, outcome.records, errors, failures, outcome)
    return UnifyResult(outcome.records, errors, summary)


def _summarise(options, valid, dropped, selected, errors, failures, outcome) -> UnifySummary:
    parsed = Counter(r.dataset for r in valid)
    outside = Counter(r.dataset for r in dropped)
    chosen = Counter(r.dataset for r in selected)
    splits = Counter((r.dataset, r.split) for r in selected)
    reasons = Counter((e.dataset, str(e.reason)) for e in errors)
    datasets = {
        name: DatasetSummary(
            parsed=parsed[name],
            outside_duration=outside[name],
            selected=chosen[name],
            splits={s: splits[name, s] for s in SPLITS},
            errors={reason: n for (d, reason), n in sorted(reasons.items()) if d == name},
            failure=failures[name],
        )
        for name in options.datasets
    }
    return UnifySummary(options.dry_run, datasets, outcome.groups, outcome.official_conflicts)


def write_catalog(con: duckdb.DuckDBPyConnection, result: UnifyResult) -> int:
    """Replace the catalog rows of the datasets this result built, and the error rows of every dataset
    it tried. Idempotent; a dataset that failed as a whole keeps its previous rows. A dry-run result
    writes nothing. Returns the number of catalog rows written."""
    if result.summary.dry_run:
        log.info("dry run: nothing written")
        return 0
    built = result.summary.built
    rows = [r.to_row() for r in result.records if r.dataset in built]
    written = replace_rows(con, "dataset_catalog", "dataset", built, rows)
    replace_rows(con, "catalog_errors", "dataset", list(result.summary.datasets), [e.to_row() for e in result.errors])
    return written


@contextmanager
def _atomic_path(path: Path) -> Iterator[Path]:
    """A temporary file next to ``path`` that replaces it only once fully written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def export_json(records: Sequence[CatalogRecord], path: Path | str) -> Path:
    """Write the records as one JSON list, the reference script's unified format plus the split fields."""
    with _atomic_path(Path(path)) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        json.dump([r.to_row() for r in records], handle, ensure_ascii=False, indent=1)
    return Path(path)


def export_parquet(records: Sequence[CatalogRecord], path: Path | str) -> Path:
    with _atomic_path(Path(path)) as tmp:
        pq.write_table(pa.Table.from_pylist([r.to_row() for r in records], schema=CATALOG_SCHEMA), tmp)
    return Path(path)


def load_records(path: Path | str) -> list[CatalogRecord]:
    """Records back from ``export_json`` or ``export_parquet`` output."""
    path = Path(path)
    if path.suffix == ".parquet":
        rows = pq.read_table(path).to_pylist()
    else:
        rows = json.loads(path.read_text(encoding="utf-8"))
    return [CatalogRecord.from_row(row) for row in rows]


def format_summary(result: UnifyResult) -> str:
    """What was (or, in a dry run, would be) built: counts per dataset and split, errors by reason."""
    summary = result.summary
    total = len(result.records)
    head = "Dry run, nothing written. Would build" if summary.dry_run else "Built"
    lines = [f"{head} {total:,} records from {len(summary.built)} of {len(summary.datasets)} datasets", ""]
    lines.append("Dataset composition:")
    for name, s in summary.datasets.items():
        if s.failure is not None:
            lines.append(f"  {name}: FAILED - {s.failure}")
            continue
        split_text = " / ".join(f"{split} {s.splits[split]:,}" for split in SPLITS)
        lines.append(
            f"  {name}: {s.selected:,} selected of {s.parsed:,} valid"
            + (f" ({s.outside_duration:,} outside the duration range)" if s.outside_duration else "")
            + f" - {split_text}"
        )
    totals = Counter()
    for s in summary.datasets.values():
        totals.update(s.splits)
    lines.append(f"  all: {' / '.join(f'{split} {totals[split]:,}' for split in SPLITS)}")
    lines.append(f"  split groups (shared track or artist): {summary.groups:,}")
    if summary.official_conflicts:
        lines.append(f"  groups whose official splits disagree: {summary.official_conflicts:,}")
    error_total = sum(sum(s.errors.values()) for s in summary.datasets.values())
    lines += ["", f"Errors: {error_total:,}"]
    for name, s in summary.datasets.items():
        if s.errors:
            lines.append(f"  {name}: " + ", ".join(f"{reason} {n:,}" for reason, n in s.errors.items()))
    return "\n".join(lines)
