"""Incremental library scans with stable track identity.

A scan lists every library root with ``os.scandir`` and compares each audio file's size and
mtime with its stored row. Only new paths and paths whose size or mtime changed are read
(audio hash + tags, see :mod:`.identity` and :mod:`.tags`), so rescanning an unchanged library
costs one ``stat`` per file and a few queries. The files that were read are then matched to
tracks by audio hash:

* **unchanged** -- same path, same size and mtime: not read, only ``last_seen_at`` moves.
* **retagged** -- same path, same audio, other tags: tags updated, nothing to recompute.
  (Same audio and same tags after a ``touch`` counts as unchanged.)
* **moved** -- a file at another path holds the audio of a live track whose own path is gone
  or now holds other audio: the track keeps its ``track_id`` and results, path updated.
* **restored** -- a file holds the audio of a retired track: the tombstone comes back to life
  with its old ``track_id``, and is batched again in case downstream dropped its results.
* **changed** -- same path, new audio, not explained by a move: same ``track_id``, recomputed.
* **new** -- anything else: a new ``track_id`` (see :func:`.identity.derive_track_id`).
* **deleted** -- a live track whose audio is found nowhere any more: ``retired_at`` is set and
  the row stays as a tombstone.

``roots`` is the whole library: a live track outside every root is gone from the library
(and if its audio turns up under a root, as when a root is relocated, it has *moved*). What
the scan could not look at retires nothing: a root that is missing (an unmounted drive) or
unreadable, an unreadable folder, a file that cannot be stat'ed -- their tracks stay as they were.
Nor does a root that exists but holds no audio file while the store knows live tracks under it:
an empty mount point is what an unmounted NAS share looks like, not a deleted library (failure
``EmptyRoot``, scope ``root``). To really empty a root, drop it from the configured roots.

Duplicates (the same audio at several paths at once) are separate tracks, one row and one
``track_id`` per path, sharing ``audio_hash``; view ``duplicate_audio`` lists them. Moves
among duplicates prefer the candidate with the same file name, then the same folder.

New, changed and restored tracks, ordered by path, are cut into batches of at most
``batch_size`` tracks with sortable ids ``<scan start UTC>-<sequence>`` in ``track_batches``.
Moved, retagged and unchanged tracks are never batched.

Files that cannot be read never stop the scan: each becomes a :class:`ScanFailure` (returned,
and written to ``failures`` with stage ``scan``; the rows of a root are replaced by every scan
of that root, so they describe the current state). A known track whose file fails to read
keeps its last good row. Directory symlinks are followed, each directory at most once (real
paths are walked before symlinked ones, so a real path wins); a symlink into its own ancestor
is reported as a loop. Hidden entries (names starting with ``.``) are skipped. Only regular
files are read: a FIFO named ``x.mp3`` is reported instead of blocking the scan.

Paths are handled as ``os.fsdecode`` strings, so names that are not UTF-8 work; the store
keeps the exact bytes in ``path_bytes`` and a readable ``path``. All writes of a scan happen
in one transaction, so an interrupted scan leaves the store as it was, and re-running a scan
over an unchanged library changes nothing but ``last_seen_at`` and ``scan_history``.
Timestamps are naive UTC; ``now`` (default: the clock) stamps every row a scan writes and
names its scan and batch ids.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from melodex_ml.catalog.identity import AudioDigest, TruncatedAudio, audio_digest, derive_track_id
from melodex_ml.catalog.tags import METADATA_COLUMNS, AudioMetadata, CorruptAudio, InvalidAudio, read_metadata
from melodex_ml.store import insert_rows, transaction

log = logging.getLogger(__name__)

AUDIO_EXTENSIONS = frozenset(
    {
        ".mp3",
        ".mp2",
        ".flac",
        ".caf",
        ".w64",
        ".ogg",
        ".oga",
        ".opus",
        ".spx",
        ".m4a",
        ".m4b",
        ".mp4",
        ".aac",
        ".alac",
        ".wav",
        ".wave",
        ".aif",
        ".aiff",
        ".aifc",
        ".wma",
        ".asf",
        ".wv",
        ".ape",
        ".mpc",
        ".tta",
        ".ofr",
        ".dsf",
        ".dff",
        ".ac3",
    }
)
# Outcomes whose audio has no results yet (restored: downstream may have dropped them).
BATCHED_OUTCOMES = frozenset({"new", "changed", "restored"})
_SUMMARY_FAILURES = 10


@dataclass(frozen=True, slots=True)
class ScanFailure:
    path: str  # readable path (see display_path)
    error_type: str  # EmptyFile | InvalidAudio | TruncatedAudio | CorruptAudio | PermissionDenied | ...
    message: str
    scope: str = "file"  # file | directory | root

    def as_failure_row(self, failed_at: datetime) -> dict[str, object]:
        return {
            "stage": "scan",
            "item": self.path,
            "path": self.path,
            "error_type": self.error_type,
            "message": self.message,
            "batch_id": None,
            "run_id": None,
            "failed_at": failed_at,
        }


@dataclass(frozen=True, slots=True)
class ScanCounts:
    seen: int = 0
    new: int = 0
    changed: int = 0
    moved: int = 0
    retagged: int = 0
    restored: int = 0
    deleted: int = 0
    unchanged: int = 0
    failed: int = 0


StoreOpener = Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]]


@dataclass(frozen=True)
class ScanResult:
    scan_id: str
    roots: list[str]
    counts: ScanCounts
    batch_ids: list[str]
    failures: list[ScanFailure]
    duration_s: float


@dataclass(frozen=True, slots=True)
class ListedFile:
    path: str  # os.fsdecode form: undecodable bytes are surrogate-escaped
    root: str
    size_bytes: int
    mtime_ns: int


@dataclass
class Listing:
    roots: list[str]
    files: list[ListedFile] = field(default_factory=list)
    failures: list[ScanFailure] = field(default_factory=list)
    unlisted: list[str] = field(default_factory=list)  # roots, folders and files it could not look at

    def hides(self, path: str) -> bool:
        """Whether ``path`` lies where this listing could not look, so its absence means nothing."""
        return any(_is_within(path, unknown) for unknown in self.unlisted)


@dataclass(frozen=True, slots=True)
class ReadFile:
    file: ListedFile
    digest: AudioDigest
    metadata: AudioMetadata

    @property
    def path(self) -> str:
        return self.file.path

    @property
    def audio_hash(self) -> str:
        return self.digest.audio_hash


@dataclass(frozen=True, slots=True)
class StoredTrack:
    track_id: str
    path: str
    size_bytes: int
    mtime_ns: int
    audio_hash: str


@dataclass(frozen=True, slots=True)
class Match:
    outcome: str  # kept (same path and audio) | moved | restored | changed | new
    read: ReadFile
    track: StoredTrack | None  # None for new


# --------------------------------------------------------------------------- public API


def scan_library(
    store: duckdb.DuckDBPyConnection | StoreOpener,
    roots: Sequence[Path | str],
    *,
    batch_size: int,
    now: datetime | None = None,
    progress: bool = False,
) -> ScanResult:
    """Scan ``roots`` into the store: update tracks, create scan batches, record failures.

    ``store`` is an open connection, or a function opening one: then the connection is held only
    to read the current state and to write the result, not while new files are hashed and tagged
    (DuckDB admits one writing process, and a first scan reads for minutes).
    """
    open_store: StoreOpener = store if callable(store) else (lambda: nullcontext(store))
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    if not roots:
        raise ValueError("no library roots given: a scan with no roots would retire every track")
    clock = time.perf_counter()
    now = _utc_naive(now)
    listing = list_audio_files(normalize_roots(roots))
    with open_store() as con:
        live = _load_live_tracks(con)
    keep_empty_roots(listing, live)
    unchanged_ids, dirty = split_by_stat(listing.files, live)
    reads, read_failures = read_files(dirty, progress=progress)
    with open_store() as con:
        return _record_scan(con, listing, live, unchanged_ids, reads, read_failures, batch_size, now, clock)


def _record_scan(con, listing, live, unchanged_ids, reads, read_failures, batch_size, now, clock) -> ScanResult:
    dormant = _load_retired_tracks(con, {read.audio_hash for read in reads})
    listed_paths = {file.path for file in listing.files}
    matches, retired_ids = match_reads(reads, listed_paths, live, dormant, listing.hides)
    rows, outcomes = _track_rows(con, matches, now)

    failures = listing.failures + read_failures
    tally = Counter(outcomes)
    counts = ScanCounts(
        seen=len(listing.files) + sum(f.scope == "file" for f in listing.failures),
        new=tally["new"],
        changed=tally["changed"],
        moved=tally["moved"],
        retagged=tally["retagged"],
        restored=tally["restored"],
        deleted=len(retired_ids),
        unchanged=len(unchanged_ids) + tally["unchanged"],
        failed=sum(f.scope == "file" for f in failures),
    )
    to_compute = sorted(
        (row for row, outcome in zip(rows, outcomes) if outcome in BATCHED_OUTCOMES), key=lambda row: row["path_bytes"]
    )
    chunks = [to_compute[i : i + batch_size] for i in range(0, len(to_compute), batch_size)]
    stamp = now.strftime("%Y%m%dT%H%M%S")
    scan_id = _next_ids(con, "scan_history", "scan_id", f"scan-{stamp}", 1, width=2)[0]
    batch_ids = _next_ids(con, "track_batches", "batch_id", stamp, len(chunks), width=4)

    with transaction(con):
        _replace_tracks(con, rows)
        _update_ids(con, "UPDATE tracks SET last_seen_at = ? WHERE track_id IN (SELECT unnest(?))", now, unchanged_ids)
        _update_ids(con, "UPDATE tracks SET retired_at = ? WHERE track_id IN (SELECT unnest(?))", now, retired_ids)
        batch_rows = [
            {"batch_id": batch_id, "track_id": row["track_id"], "created_at": now, "scan_id": scan_id}
            for batch_id, chunk in zip(batch_ids, chunks)
            for row in chunk
        ]
        insert_rows(con, "track_batches", batch_rows)
        _replace_failures(con, listing.roots, failures, now)
        result = ScanResult(scan_id, listing.roots, counts, batch_ids, failures, time.perf_counter() - clock)
        insert_rows(con, "scan_history", [_history_row(result, now)])
    log.info("%s", format_scan_summary(result))
    return result


def format_scan_summary(result: ScanResult) -> str:
    """A few human-readable lines: counts, batches and the first failures."""
    c = result.counts
    tally = " | ".join(f"{name} {value}" for name, value in asdict(c).items() if name != "seen")
    lines = [
        f"{result.scan_id}: {c.seen} audio files in {len(result.roots)} root(s), {result.duration_s:.2f} s",
        f"  {tally}",
    ]
    if result.batch_ids:
        shown = result.batch_ids if len(result.batch_ids) <= 3 else [result.batch_ids[0], "...", result.batch_ids[-1]]
        lines.append(f"  {len(result.batch_ids)} batch(es): {', '.join(shown)}")
    else:
        lines.append("  no new batches")
    for failure in result.failures[:_SUMMARY_FAILURES]:
        lines.append(f"  ! {failure.error_type}: {failure.path}: {failure.message}")
    if len(result.failures) > _SUMMARY_FAILURES:
        lines.append(
            f"  ... and {len(result.failures) - _SUMMARY_FAILURES} more failures (table failures, stage 'scan')"
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------- listing


def normalize_roots(roots: Iterable[Path | str]) -> list[str]:
    """Absolute, de-duplicated roots; a root inside another root is covered by it and dropped."""
    kept: list[str] = []
    for root in sorted({os.path.abspath(os.path.expanduser(os.fspath(r))) for r in roots}):
        if not any(_is_within(root, outer) for outer in kept):
            kept.append(root)
    return kept


def list_audio_files(roots: Sequence[str]) -> Listing:
    """Walk ``roots`` (absolute) and stat every audio file; problems become failures."""
    listing = Listing(roots=list(roots))
    visited: set[tuple[int, int]] = set()
    real_dirs: list[tuple[str, str]] = []  # (folder, root)
    linked_dirs: list[tuple[str, str, str]] = []  # (symlink, root, parent folder)
    for root in roots:
        try:
            info = os.stat(root)
            if not stat.S_ISDIR(info.st_mode):
                raise NotADirectoryError(errno.ENOTDIR, "not a directory", root)
        except OSError as exc:
            listing.failures.append(_root_failure(root, exc))
            listing.unlisted.append(root)
            continue
        visited.add((info.st_dev, info.st_ino))
        real_dirs.append((root, root))

    while real_dirs or linked_dirs:
        if real_dirs:
            folder, root = real_dirs.pop()
        else:
            folder, root, parent = linked_dirs.pop()
            try:
                info = os.stat(folder)
            except OSError as exc:
                listing.failures.append(_os_failure(folder, exc, "directory"))
                continue
            if (info.st_dev, info.st_ino) in visited:
                target = os.path.realpath(folder)
                if _is_within(os.path.realpath(parent), target):
                    listing.failures.append(
                        ScanFailure(
                            display_path(folder),
                            "SymlinkLoop",
                            f"symlink to its own ancestor {display_path(target)}; not followed",
                            "directory",
                        )
                    )
                continue  # otherwise an alias of a folder already listed
            visited.add((info.st_dev, info.st_ino))
        _list_folder(folder, root, listing, visited, real_dirs, linked_dirs)
    return listing


def keep_empty_roots(listing: Listing, live: dict[str, StoredTrack]) -> None:
    """Treat a root with no audio file listed as unseen when the store knows live tracks under it."""
    listed = Counter(file.root for file in listing.files)
    for root in listing.roots:
        if listed[root] or root in listing.unlisted:
            continue
        known = sum(_is_within(path, root) for path in live)
        if not known:
            continue  # a new, still empty root: nothing to protect
        listing.unlisted.append(root)
        listing.failures.append(
            ScanFailure(
                display_path(root),
                "EmptyRoot",
                f"library root holds no audio file, but {known} live track(s) were found under it before "
                "(an unmounted drive or network share?); its tracks are kept as they were. "
                "If the library really is empty, remove the root from MELODEX_LIBRARY_ROOTS",
                "root",
            )
        )
        log.warning("library root %s is empty but %d tracks are known under it: retiring none", root, known)


def _list_folder(folder, root, listing: Listing, visited, real_dirs, linked_dirs) -> None:
    try:
        with os.scandir(folder) as scan:
            entries = list(scan)
    except OSError as exc:
        listing.unlisted.append(folder)
        listing.failures.append(
            ScanFailure(
                display_path(folder),
                "UnreadableDirectory",
                f"cannot list folder ({exc.strerror or exc}); its tracks are kept as they were",
                "directory",
            )
        )
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        is_audio = os.path.splitext(entry.name)[1].lower() in AUDIO_EXTENSIONS
        try:
            if entry.is_dir():
                if entry.is_symlink():
                    linked_dirs.append((entry.path, root, folder))
                else:
                    info = entry.stat()
                    if (info.st_dev, info.st_ino) not in visited:
                        visited.add((info.st_dev, info.st_ino))
                        real_dirs.append((entry.path, root))
            elif is_audio and entry.is_file():
                info = entry.stat()
                listing.files.append(ListedFile(entry.path, root, info.st_size, info.st_mtime_ns))
            elif is_audio:
                failure = _not_a_file_failure(entry.path, entry.is_symlink())
                if failure is not None:
                    listing.failures.append(failure)
                    listing.unlisted.append(entry.path)
        except FileNotFoundError:
            continue  # vanished while listing: it is simply not there
        except OSError as exc:
            listing.failures.append(_os_failure(entry.path, exc, "file" if is_audio else "directory"))
            listing.unlisted.append(entry.path)


def _not_a_file_failure(path: str, is_symlink: bool) -> ScanFailure | None:
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        if not is_symlink:
            return None  # vanished while listing
        target = os.readlink(path)
        return ScanFailure(display_path(path), "BrokenSymlink", f"symlink target {display_path(target)} does not exist")
    except OSError as exc:
        return _os_failure(path, exc, "file")
    kind = next(
        (
            name
            for test, name in (
                (stat.S_ISFIFO, "named pipe"),
                (stat.S_ISSOCK, "socket"),
                (stat.S_ISCHR, "character device"),
                (stat.S_ISBLK, "block device"),
            )
            if test(mode)
        ),
        "special file",
    )
    return ScanFailure(
        display_path(path), "NotARegularFile", f"{kind} with an audio file name; only regular files are read"
    )


# --------------------------------------------------------------------------- reading and matching


def split_by_stat(files: Iterable[ListedFile], live: dict[str, StoredTrack]) -> tuple[list[str], list[ListedFile]]:
    """(ids of live tracks whose file kept size and mtime, files that must be read)."""
    unchanged, dirty = [], []
    for file in files:
        track = live.get(file.path)
        if track is not None and track.size_bytes == file.size_bytes and track.mtime_ns == file.mtime_ns:
            unchanged.append(track.track_id)
        else:
            dirty.append(file)
    return unchanged, dirty


def read_listed_file(file: ListedFile) -> ReadFile:
    """Hash and parse one file; raises on anything unreadable."""
    if file.size_bytes == 0:
        raise TruncatedAudio("file is empty (0 bytes)")
    return ReadFile(file, audio_digest(file.path), read_metadata(file.path))


def read_files(files: Sequence[ListedFile], *, progress: bool = False) -> tuple[list[ReadFile], list[ScanFailure]]:
    reads, failures = [], []
    for file in _progress(files, progress):
        try:
            reads.append(read_listed_file(file))
        except Exception as exc:  # noqa: BLE001 -- one bad file never fails the scan
            failures.append(_read_failure(file, exc))
    return reads, failures


def match_reads(
    reads: Sequence[ReadFile],
    listed_paths: set[str],
    live: dict[str, StoredTrack],
    dormant: Sequence[StoredTrack],
    hidden: Callable[[str], bool],
) -> tuple[list[Match], list[str]]:
    """Assign every read file to a track by audio hash; returns (matches, ids to retire).

    ``hidden(path)`` tells whether a path that was not listed may still exist (missing root,
    unreadable folder, unstattable file): such tracks are left alone.
    """
    by_path = {read.path: read for read in reads}
    # Live tracks whose audio may have gone elsewhere: their path is gone or holds other audio.
    vacated = {
        track.track_id: track
        for track in live.values()
        if (track.path not in listed_paths and not hidden(track.path))
        or (track.path in by_path and by_path[track.path].audio_hash != track.audio_hash)
    }
    free = _by_hash(vacated.values())
    retired = _by_hash(dormant)
    matches: list[Match] = []
    pending: list[ReadFile] = []
    for read in sorted(reads, key=lambda r: r.path):
        track = live.get(read.path)
        if track is not None and track.audio_hash == read.audio_hash:
            matches.append(Match("kept", read, track))
        else:
            pending.append(read)
    unexplained = []
    for read in pending:
        if (track := _take_closest(free, read)) is not None:
            del vacated[track.track_id]
            matches.append(Match("moved", read, track))
        elif (track := _take_closest(retired, read)) is not None:
            matches.append(Match("restored", read, track))
        else:
            unexplained.append(read)
    for read in unexplained:
        track = live.get(read.path)
        if track is not None and vacated.pop(track.track_id, None) is not None:
            matches.append(Match("changed", read, track))
        else:
            matches.append(Match("new", read, None))
    return matches, sorted(vacated)


def _by_hash(tracks: Iterable[StoredTrack]) -> dict[str, list[StoredTrack]]:
    grouped: dict[str, list[StoredTrack]] = defaultdict(list)
    for track in tracks:
        grouped[track.audio_hash].append(track)
    return grouped


def _take_closest(pool: dict[str, list[StoredTrack]], read: ReadFile) -> StoredTrack | None:
    """Remove and return the candidate with the read's audio that is closest by name and folder."""
    candidates = pool.get(read.audio_hash)
    if not candidates:
        return None
    name, folder = os.path.basename(read.path), os.path.dirname(read.path)
    best = min(
        candidates,
        key=lambda t: (os.path.basename(t.path) != name, os.path.dirname(t.path) != folder, t.path, t.track_id),
    )
    candidates.remove(best)
    return best


def _track_rows(con, matches: Sequence[Match], now: datetime) -> tuple[list[dict[str, object]], list[str]]:
    """The new state of every matched track, and its outcome ("kept" resolved to retagged/unchanged)."""
    stored = _load_rows(con, [m.track.track_id for m in matches if m.track is not None])
    new_ids = iter(_new_track_ids(con, [m.read for m in matches if m.track is None]))
    rows, outcomes = [], []
    for match in matches:
        previous = stored[match.track.track_id] if match.track is not None else None
        outcome = match.outcome
        if outcome == "kept":
            outcome = "retagged" if _tags_differ(previous, match.read.metadata) else "unchanged"
        new_audio = previous is None or outcome == "changed"
        rows.append(
            _track_row(
                previous["track_id"] if previous else next(new_ids),
                match.read,
                first_seen_at=previous["first_seen_at"] if previous else now,
                changed_at=now if new_audio else previous["changed_at"],
                now=now,
            )
        )
        outcomes.append(outcome)
    return rows, outcomes


def _tags_differ(previous: dict[str, object], metadata: AudioMetadata) -> bool:
    current = metadata.as_columns()
    return any(previous[column] != current[column] for column in METADATA_COLUMNS)


# --------------------------------------------------------------------------- store access


def _load_live_tracks(con) -> dict[str, StoredTrack]:
    rows = con.execute(
        "SELECT track_id, path_bytes, size_bytes, mtime_ns, audio_hash FROM tracks WHERE retired_at IS NULL"
    ).fetchall()
    return {
        path: StoredTrack(track_id, path, size, mtime, audio_hash)
        for track_id, path_bytes, size, mtime, audio_hash in rows
        for path in (os.fsdecode(path_bytes),)
    }


def _load_retired_tracks(con, hashes: set[str]) -> list[StoredTrack]:
    if not hashes:
        return []
    rows = con.execute(
        "SELECT track_id, path_bytes, size_bytes, mtime_ns, audio_hash FROM tracks "
        "WHERE retired_at IS NOT NULL AND audio_hash IN (SELECT unnest(?))",
        [sorted(hashes)],
    ).fetchall()
    return [StoredTrack(tid, os.fsdecode(path), size, mtime, h) for tid, path, size, mtime, h in rows]


def _load_rows(con, track_ids: list[str]) -> dict[str, dict[str, object]]:
    if not track_ids:
        return {}
    cursor = con.execute("SELECT * FROM tracks WHERE track_id IN (SELECT unnest(?))", [track_ids])
    names = [column[0] for column in cursor.description]
    return {row[0]: dict(zip(names, row)) for row in cursor.fetchall()}


def _new_track_ids(con, reads: Sequence[ReadFile]) -> list[str]:
    """Derived ids for new tracks, derived again where one is taken.

    A clash is not only a hash collision: a track first seen as audio X at path p keeps its id
    when p gets new audio and moves away, so audio X turning up at p again derives that id.
    """

    def stored(ids: list[str]) -> set[str]:
        query = "SELECT track_id FROM tracks WHERE track_id IN (SELECT unnest(?))"
        return {row[0] for row in con.execute(query, [ids]).fetchall()} if ids else set()

    first_choice = [derive_track_id(read.audio_hash, read.path) for read in reads]
    taken = stored(first_choice)
    chosen: list[str] = []
    for read, track_id in zip(reads, first_choice):
        attempt = 0
        while track_id in taken:
            attempt += 1
            track_id = derive_track_id(read.audio_hash, read.path, attempt)
            taken |= stored([track_id])
        taken.add(track_id)  # two new files must not share one either
        chosen.append(track_id)
    return chosen


def _next_ids(con, table: str, column: str, prefix: str, count: int, *, width: int) -> list[str]:
    """``prefix-0001``-style ids continuing after any already stored with the same prefix."""
    last = con.execute(
        f"SELECT max(TRY_CAST(string_split({column}, '-')[-1] AS BIGINT)) FROM {table} WHERE starts_with({column}, ?)",
        [prefix + "-"],
    ).fetchone()[0]
    start = (last or 0) + 1
    return [f"{prefix}-{n:0{width}d}" for n in range(start, start + count)]


def _track_row(track_id: str, read: ReadFile, *, first_seen_at, changed_at, now) -> dict[str, object]:
    file = read.file
    return {
        "track_id": track_id,
        "path": display_path(file.path),
        "path_bytes": os.fsencode(file.path),
        "root": display_path(file.root),
        "size_bytes": file.size_bytes,
        "mtime_ns": file.mtime_ns,
        "audio_hash": read.audio_hash,
        "hash_scheme": read.digest.scheme,
        **read.metadata.as_columns(),
        "first_seen_at": first_seen_at,
        "last_seen_at": now,
        "changed_at": changed_at,
        "retired_at": None,
    }


def _history_row(result: ScanResult, now: datetime) -> dict[str, object]:
    return {
        "scan_id": result.scan_id,
        "roots": [display_path(root) for root in result.roots],
        "started_at": now,
        "finished_at": now + timedelta(seconds=result.duration_s),
        **{f"{name}_files": value for name, value in asdict(result.counts).items()},
        "batch_ids": result.batch_ids,
    }


def _replace_tracks(con, rows: list[dict[str, object]]) -> None:
    if rows:
        con.execute("DELETE FROM tracks WHERE track_id IN (SELECT unnest(?))", [[row["track_id"] for row in rows]])
        insert_rows(con, "tracks", rows)


def _update_ids(con, sql: str, now: datetime, track_ids: list[str]) -> None:
    if track_ids:
        con.execute(sql, [now, track_ids])


def _replace_failures(con, roots: list[str], failures: list[ScanFailure], now: datetime) -> None:
    """This scan's failures replace every earlier scan failure under the same roots."""
    shown_roots = [display_path(root) for root in roots]
    con.execute(
        "DELETE FROM failures WHERE stage = 'scan' AND EXISTS (SELECT 1 FROM (SELECT unnest(?) AS root) r "
        "WHERE failures.item = r.root OR starts_with(failures.item, rtrim(r.root, '/') || '/'))",
        [shown_roots],
    )
    insert_rows(con, "failures", [failure.as_failure_row(now) for failure in failures])


# --------------------------------------------------------------------------- small helpers


def display_path(path: str) -> str:
    """Readable form of a filesystem path: bytes that are not UTF-8 become U+FFFD."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _is_within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _utc_naive(now: datetime | None) -> datetime:
    now = now or datetime.now(UTC)
    return now.astimezone(UTC).replace(tzinfo=None) if now.tzinfo else now


def _progress(files: Sequence[ListedFile], enabled: bool) -> Iterator[ListedFile]:
    if not enabled or not files:
        return iter(files)
    from rich.progress import track

    return iter(track(files, description=f"Reading {len(files)} audio files", transient=True))


def _root_failure(root: str, exc: OSError) -> ScanFailure:
    reasons = {
        FileNotFoundError: ("RootNotFound", "library root does not exist"),
        NotADirectoryError: ("RootNotADirectory", "library root is not a folder"),
        PermissionError: ("PermissionDenied", "library root cannot be opened (permission denied)"),
    }
    error_type, message = reasons.get(type(exc), ("UnreadableRoot", f"library root cannot be read ({exc})"))
    return ScanFailure(display_path(root), error_type, f"{message}; its tracks are kept as they were", "root")


def _os_failure(path: str, exc: OSError, scope: str) -> ScanFailure:
    if exc.errno == errno.ELOOP:
        error_type, message = "SymlinkLoop", "symlink loop (too many levels of symbolic links)"
    elif isinstance(exc, PermissionError):
        error_type, message = "PermissionDenied", f"permission denied ({exc.strerror})"
    elif isinstance(exc, FileNotFoundError):
        error_type, message = "FileVanished", "file disappeared between listing and reading"
    else:
        error_type, message = type(exc).__name__, f"{exc.strerror or exc}"
    return ScanFailure(display_path(path), error_type, message, scope)


def _read_failure(file: ListedFile, exc: Exception) -> ScanFailure:
    path = display_path(file.path)
    if file.size_bytes == 0:
        return ScanFailure(path, "EmptyFile", "file is empty (0 bytes)")
    if isinstance(exc, TruncatedAudio | InvalidAudio | CorruptAudio):
        return ScanFailure(path, type(exc).__name__, str(exc))
    if isinstance(exc, OSError):
        return _os_failure(file.path, exc, "file")
    log.exception("unexpected error reading %s", path)
    return ScanFailure(path, type(exc).__name__, f"unexpected error while reading: {exc}")
