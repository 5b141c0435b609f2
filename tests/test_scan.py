"""Incremental scans: identity across moves/retags/edits/deletes, batches, history and bad input."""

from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from mutagen.flac import FLAC
from test_scan_support import write_audio

import melodex_ml.catalog.scan as scan_mod
from melodex_ml.catalog.identity import derive_track_id
from melodex_ml.catalog.scan import ScanCounts, ScanResult, format_scan_summary, scan_library
from melodex_ml.catalog.tags import MAX_TAG_CHARS
from melodex_ml.store import connect, ddl_statements

T0 = datetime(2026, 11, 24, 3, 15, 0)
T1, T2, T3 = (T0 + timedelta(hours=h) for h in (1, 2, 3))


@pytest.fixture
def con(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    with connect(tmp_path / "store.duckdb") as con:
        yield con


@pytest.fixture
def lib(tmp_path: Path) -> Path:
    (tmp_path / "library").mkdir()
    return tmp_path / "library"


def scan(con, *roots: Path, at: datetime = T0, batch_size: int = 100) -> ScanResult:
    return scan_library(con, list(roots), batch_size=batch_size, now=at)


def counts(**nonzero: int) -> dict[str, int]:
    return {**asdict(ScanCounts()), **nonzero}


def rows(con, table: str = "live_tracks") -> dict[str, dict]:
    """Rows keyed by path."""
    cursor = con.execute(f"SELECT * FROM {table}")
    names = [c[0] for c in cursor.description]
    return {row["path"]: row for row in (dict(zip(names, values)) for values in cursor.fetchall())}


def batched_ids(con, batch_ids: list[str]) -> list[str]:
    return [
        r[0]
        for r in con.execute(
            "SELECT track_id FROM track_batches WHERE batch_id IN (SELECT unnest(?)) ORDER BY batch_id, track_id",
            [batch_ids],
        ).fetchall()
    ]


def set_mtime(path: Path, when: datetime) -> None:
    ns = int(when.replace(tzinfo=UTC).timestamp() * 1e9)
    os.utime(path, ns=(ns, ns))


def retitle(path: Path, title: str) -> None:
    audio = FLAC(path)
    audio["TITLE"] = title
    audio.save()


# --------------------------------------------------------------------------- identity across scans


def test_first_scan_catalogs_every_format_and_batches_new_tracks(con, lib: Path) -> None:
    suffixes = [".mp3", ".flac", ".ogg", ".opus", ".wav", ".aiff", ".m4a"]
    paths = [write_audio(lib / "Artist" / f"{i:02d} track{s}", seed=i) for i, s in enumerate(suffixes)]
    retitle(paths[1], "So What")
    (lib / "cover.jpg").write_bytes(b"\xff\xd8 not audio, not scanned")
    (lib / ".hidden.flac").write_bytes(b"hidden files are skipped")

    result = scan_library(con, [lib], batch_size=3, now=T0, progress=True)

    assert asdict(result.counts) == counts(seen=7, new=7)
    assert result.failures == []
    assert result.batch_ids == ["20261124T031500-0001", "20261124T031500-0002", "20261124T031500-0003"]
    live = rows(con)
    assert sorted(live) == sorted(str(p) for p in paths)
    assert {r["file_format"] for r in live.values()} == {"mp3", "flac", "ogg", "wav", "aiff", "mp4"}
    assert live[str(paths[1])]["title"] == "So What"
    assert all(r["first_seen_at"] == r["changed_at"] == r["last_seen_at"] == T0 for r in live.values())
    # Batches hold the new tracks in path order, at most batch_size each.
    by_path = [live[str(p)]["track_id"] for p in sorted(paths, key=lambda p: os.fsencode(p))]
    per_batch = [batched_ids(con, [b]) for b in result.batch_ids]
    assert [len(b) for b in per_batch] == [3, 3, 1]
    assert [sorted(b) for b in per_batch] == [sorted(by_path[0:3]), sorted(by_path[3:6]), by_path[6:]]
    (row,) = con.execute(
        "SELECT scan_id, roots, started_at, seen_files, new_files, failed_files, batch_ids FROM scan_history"
    ).fetchall()
    assert row == (result.scan_id, [str(lib)], T0, 7, 7, 0, result.batch_ids)


def test_rescan_of_unchanged_library_reads_no_file(con, lib: Path, monkeypatch) -> None:
    for i in range(4):
        write_audio(lib / f"{i}.flac", seed=i)
    scan(con, lib)
    before = rows(con)
    reads: list[str] = []
    real_read = scan_mod.read_listed_file
    monkeypatch.setattr(scan_mod, "read_listed_file", lambda f: reads.append(f.path) or real_read(f))

    again = scan(con, lib, at=T1)
    third = scan(con, lib, at=T1)  # same clock twice: ids must still be unique

    assert reads == []
    assert asdict(again.counts) == asdict(third.counts) == counts(seen=4, unchanged=4)
    assert again.batch_ids == third.batch_ids == []
    assert (again.scan_id, third.scan_id) == ("scan-20261124T041500-01", "scan-20261124T041500-02")
    after = rows(con)
    assert {p: {**r, "last_seen_at": None} for p, r in after.items()} == {
        p: {**r, "last_seen_at": None} for p, r in before.items()
    }
    assert {r["last_seen_at"] for r in after.values()} == {T1}


def test_moved_and_renamed_files_keep_their_track_id(con, lib: Path) -> None:
    a, b = write_audio(lib / "a.flac", seed=1), write_audio(lib / "Album" / "b.mp3", seed=2)
    scan(con, lib)
    ids = {p: r["track_id"] for p, r in rows(con).items()}

    a.rename(lib / "renamed.flac")
    (lib / "Elsewhere").mkdir()
    b.rename(lib / "Elsewhere" / "b.mp3")
    result = scan(con, lib, at=T1)

    assert asdict(result.counts) == counts(seen=2, moved=2)
    assert result.batch_ids == []
    live = rows(con)
    assert live[str(lib / "renamed.flac")]["track_id"] == ids[str(a)]
    assert live[str(lib / "Elsewhere" / "b.mp3")]["track_id"] == ids[str(b)]
    assert all(r["changed_at"] == r["first_seen_at"] == T0 for r in live.values())
    assert rows(con, "tracks").keys() == live.keys()  # a move leaves no tombstone


def test_retag_updates_tags_without_recompute_and_touch_changes_nothing(con, lib: Path) -> None:
    tagged, touched = write_audio(lib / "tagged.flac", seed=1), write_audio(lib / "touched.flac", seed=2)
    scan(con, lib)
    before = rows(con)

    retitle(tagged, "New Title " + "x" * 5000)  # grows the file: size and mtime change
    set_mtime(touched, T1)
    result = scan(con, lib, at=T1)

    assert asdict(result.counts) == counts(seen=2, retagged=1, unchanged=1)
    assert result.batch_ids == []
    after = rows(con)
    assert (
        after[str(tagged)]["title"].startswith("New Title")
        and after[str(tagged)]["track_id"] == before[str(tagged)]["track_id"]
    )
    assert after[str(tagged)]["audio_hash"] == before[str(tagged)]["audio_hash"]
    assert after[str(tagged)]["size_bytes"] > before[str(tagged)]["size_bytes"]
    assert after[str(tagged)]["changed_at"] == T0
    assert after[str(touched)]["mtime_ns"] != before[str(touched)]["mtime_ns"]


def test_new_audio_at_a_known_path_is_recomputed_under_the_same_id(con, lib: Path) -> None:
    path = write_audio(lib / "song.flac", seed=1)
    scan(con, lib)
    before = rows(con)[str(path)]

    write_audio(path, seed=99)
    result = scan(con, lib, at=T1)

    assert asdict(result.counts) == counts(seen=1, changed=1)
    after = rows(con)[str(path)]
    assert after["track_id"] == before["track_id"] and after["audio_hash"] != before["audio_hash"]
    assert (after["first_seen_at"], after["changed_at"]) == (T0, T1)
    assert batched_ids(con, result.batch_ids) == [after["track_id"]]


def test_old_audio_returning_to_a_path_whose_track_moved_on_gets_a_fresh_id(con, lib: Path) -> None:
    path = write_audio(lib / "song.flac", seed=1)
    scan(con, lib)
    (first,) = rows(con).values()
    assert first["track_id"] == derive_track_id(first["audio_hash"], str(path))

    write_audio(path, seed=2)  # new audio: same track, recomputed
    assert scan(con, lib, at=T1).counts.changed == 1
    path.rename(lib / "moved.flac")  # ...which then moves away
    assert scan(con, lib, at=T2).counts.moved == 1
    write_audio(path, seed=1)  # the first audio is back at the first path: derives the moved track's id
    result = scan(con, lib, at=T3)

    assert asdict(result.counts) == counts(seen=2, new=1, unchanged=1)
    live = rows(con)
    assert live[str(lib / "moved.flac")]["track_id"] == first["track_id"]
    assert live[str(path)]["audio_hash"] == first["audio_hash"]
    assert live[str(path)]["track_id"] == derive_track_id(first["audio_hash"], str(path), 1)


def test_deleted_file_becomes_a_tombstone_and_comes_back_when_its_audio_does(con, lib: Path) -> None:
    path = write_audio(lib / "gone.flac", seed=1)
    write_audio(lib / "keep.flac", seed=2)
    scan(con, lib)
    track_id = rows(con)[str(path)]["track_id"]
    parked = shutil.copy2(path, lib.parent / "parked.flac")

    path.unlink()
    deleted = scan(con, lib, at=T1)
    assert asdict(deleted.counts) == counts(seen=1, deleted=1, unchanged=1)
    assert str(path) not in rows(con)
    tombstone = rows(con, "tracks")[str(path)]
    assert (tombstone["track_id"], tombstone["retired_at"]) == (track_id, T1)

    shutil.move(parked, lib / "back again.flac")
    restored = scan(con, lib, at=T2)
    assert asdict(restored.counts) == counts(seen=2, restored=1, unchanged=1)
    row = rows(con)[str(lib / "back again.flac")]
    assert (row["track_id"], row["retired_at"], row["first_seen_at"]) == (track_id, None, T0)
    assert batched_ids(con, restored.batch_ids) == [track_id]
    assert len(rows(con, "tracks")) == 2


def test_swapped_and_replaced_files_follow_their_audio(con, lib: Path) -> None:
    a, b, c = (write_audio(lib / f"{n}.flac", seed=i) for i, n in enumerate("abc"))
    for path, when in ((a, T0), (b, T1), (c, T2)):
        set_mtime(path, when)  # renames keep mtimes: make them distinct
    scan(con, lib)
    ids = {Path(p).name: r["track_id"] for p, r in rows(con).items()}

    a.rename(lib / "tmp.flac")
    b.rename(a)
    (lib / "tmp.flac").rename(b)  # a <-> b swapped
    result = scan(con, lib, at=T1)
    assert asdict(result.counts) == counts(seen=3, moved=2, unchanged=1)
    assert {Path(p).name: r["track_id"] for p, r in rows(con).items()} == {
        "a.flac": ids["b.flac"],
        "b.flac": ids["a.flac"],
        "c.flac": ids["c.flac"],
    }

    os.replace(c, a)  # c's file replaces a.flac (which held b's audio)
    result = scan(con, lib, at=T2)
    assert asdict(result.counts) == counts(seen=2, moved=1, deleted=1, unchanged=1)
    assert {Path(p).name: r["track_id"] for p, r in rows(con).items()} == {
        "a.flac": ids["c.flac"],
        "b.flac": ids["a.flac"],
    }
    retired = con.execute("SELECT track_id FROM tracks WHERE retired_at IS NOT NULL").fetchall()
    assert retired == [(ids["b.flac"],)]


def test_duplicates_are_separate_tracks_sharing_the_audio_hash(con, lib: Path) -> None:
    original = write_audio(lib / "Album" / "song.flac", seed=1)
    scan(con, lib)
    (lib / "Best Of").mkdir()
    copy = Path(shutil.copy2(original, lib / "Best Of" / "song.flac"))

    result = scan(con, lib, at=T1)
    assert asdict(result.counts) == counts(seen=2, new=1, unchanged=1)
    live = rows(con)
    assert live[str(original)]["audio_hash"] == live[str(copy)]["audio_hash"]
    assert live[str(original)]["track_id"] != live[str(copy)]["track_id"]
    (dup,) = con.execute("SELECT copies, track_ids FROM duplicate_audio").fetchall()
    assert dup[0] == 2 and set(dup[1]) == {live[str(original)]["track_id"], live[str(copy)]["track_id"]}

    # Both copies move at once: each keeps its id, matched by folder.
    (lib / "Moved").mkdir()
    original.parent.rename(lib / "Moved" / "Album")
    copy.parent.rename(lib / "Moved" / "Best Of")
    result = scan(con, lib, at=T2)
    assert asdict(result.counts) == counts(seen=2, moved=2)
    moved = rows(con)
    assert moved[str(lib / "Moved" / "Album" / "song.flac")]["track_id"] == live[str(original)]["track_id"]


def test_missing_root_retires_nothing_relocated_root_moves_dropped_root_retires(con, tmp_path: Path) -> None:
    first, second = tmp_path / "disk1", tmp_path / "disk2"
    write_audio(first / "a.flac", seed=1)
    write_audio(second / "b.flac", seed=2)
    write_audio(second / "sub" / "c.flac", seed=3)
    result = scan(con, first, second, second / "sub")  # nested root: covered by its parent
    assert asdict(result.counts) == counts(seen=3, new=3)
    assert result.roots == [str(first), str(second)]
    ids = {Path(p).name: r["track_id"] for p, r in rows(con).items()}

    second.rename(tmp_path / "unplugged")
    unplugged = scan(con, first, second, tmp_path / "never-existed", at=T1)
    assert asdict(unplugged.counts) == counts(seen=1, unchanged=1)
    assert len(rows(con)) == 3  # tracks under the missing root stay live
    assert {(f.path, f.error_type, f.scope) for f in unplugged.failures} == {
        (str(second), "RootNotFound", "root"),
        (str(tmp_path / "never-existed"), "RootNotFound", "root"),
    }
    assert con.execute("SELECT count(*) FROM failures WHERE error_type = 'RootNotFound'").fetchone()[0] == 2

    relocated = scan(con, first, tmp_path / "unplugged", at=T2)  # the user points the config elsewhere
    assert asdict(relocated.counts) == counts(seen=3, moved=2, unchanged=1)
    assert {Path(p).name: r["track_id"] for p, r in rows(con).items()} == ids
    assert con.execute("SELECT count(*) FROM failures").fetchone()[0] == 2  # other roots' rows untouched

    dropped = scan(con, first, at=T3)
    assert asdict(dropped.counts) == counts(seen=1, unchanged=1, deleted=2)
    assert list(rows(con)) == [str(first / "a.flac")]
    with pytest.raises(ValueError, match="no library roots"):
        scan(con)


# --------------------------------------------------------------------------- bad input


def _text(lib: Path) -> Path:
    path = lib / "notes.flac"
    path.write_text("liner notes, not audio\n" * 50)
    return path


def _empty(lib: Path) -> Path:
    (path := lib / "empty.mp3").touch()
    return path


def _cut(suffix: str):
    def make(lib: Path) -> Path:
        path = write_audio(lib / f"cut{suffix}", seed=5, seconds=1.0)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
        return path

    make.__name__ = f"_cut{suffix}"
    return make


def _broken_comment_block(lib: Path) -> Path:
    path = write_audio(lib / "broken-tags.flac", seed=5)
    retitle(path, "fine")
    data = path.read_bytes()
    at = data.index(b"TITLE=fine") - 4  # the comment's length field
    path.write_bytes(data[:at] + b"\xff\xff\xff\x7f" + data[at + 4 :])
    return path


def _broken_symlink(lib: Path) -> Path:
    (path := lib / "dangling.mp3").symlink_to(lib / "nowhere.mp3")
    return path


def _self_symlink(lib: Path) -> Path:
    (path := lib / "loop.mp3").symlink_to(lib / "loop.mp3")
    return path


def _fifo(lib: Path) -> Path:
    os.mkfifo(path := lib / "pipe.mp3")  # opening it would block the scan forever
    return path


@pytest.mark.parametrize(
    ("make", "error_type", "message"),
    [
        (_empty, "EmptyFile", "empty"),
        (_text, "InvalidAudio", "not a valid FLAC file"),
        (_cut(".wav"), "TruncatedAudio", "'data' chunk runs to byte"),
        (_cut(".flac"), "CorruptAudio", "does not decode"),
        (_cut(".ogg"), "TruncatedAudio", "Ogg page runs to byte"),
        (_cut(".mp3"), "TruncatedAudio", "Xing/Info header declares"),
        (_cut(".m4a"), "TruncatedAudio", "'mdat' box runs to byte"),
        (_broken_comment_block, "InvalidAudio", "not a readable audio file"),
        (_broken_symlink, "BrokenSymlink", "does not exist"),
        (_self_symlink, "SymlinkLoop", "symlink loop"),
        (_fifo, "NotARegularFile", "named pipe"),
    ],
    ids=lambda v: getattr(v, "__name__", None) if callable(v) else None,
)
def test_bad_file_is_recorded_and_the_rest_is_catalogued(con, lib: Path, make, error_type: str, message: str) -> None:
    good = write_audio(lib / "good.flac", seed=1)
    bad = make(lib)

    result = scan(con, lib)

    assert asdict(result.counts) == counts(seen=2, new=1, failed=1)
    assert list(rows(con)) == [str(good)]
    (failure,) = result.failures
    assert (failure.path, failure.error_type, failure.scope) == (str(bad), error_type, "file")
    assert message in failure.message
    stored = con.execute("SELECT stage, item, path, error_type, message, failed_at FROM failures").fetchall()
    assert stored == [("scan", str(bad), str(bad), error_type, failure.message, T0)]
    assert f"{error_type}: {bad}" in format_scan_summary(result)


def test_failure_rows_describe_the_current_state(con, lib: Path) -> None:
    path = _text(lib)
    scan(con, lib)
    scan(con, lib, at=T1)
    assert con.execute("SELECT count(*) FROM failures WHERE stage = 'scan'").fetchone()[0] == 1
    path.unlink()
    write_audio(path, seed=3)  # fixed: valid audio at the same path
    result = scan(con, lib, at=T2)
    assert asdict(result.counts) == counts(seen=1, new=1)
    assert con.execute("SELECT count(*) FROM failures").fetchone()[0] == 0


def test_hostile_tags_are_stored_verbatim_or_truncated(con, lib: Path) -> None:
    path = write_audio(lib / "hostile.flac", seed=1)
    audio = FLAC(path)
    title = "x'); DROP TABLE tracks; --\" \\' %s ? $1 \u202e"
    audio.update({"TITLE": title, "ARTIST": "A" * 2_000_000, "ALBUM": "bad\x00byte"})
    audio.save()

    result = scan(con, lib)

    assert result.counts.new == 1 and result.failures == []
    row = rows(con)[str(path)]
    assert (row["title"], row["artist"], row["album"]) == (title, "A" * MAX_TAG_CHARS, "bad byte")
    assert con.execute("SELECT count(*) FROM tracks").fetchone()[0] == 1


def test_non_utf8_file_names_round_trip(con, lib: Path) -> None:
    name = os.fsdecode(b"caf\xe9 \xff.flac")  # Latin-1 bytes: not UTF-8
    tmp = write_audio(lib / "plain.flac", seed=1)
    os.rename(tmp, os.path.join(lib, name))

    first = scan(con, lib)
    again = scan(con, lib, at=T1)

    assert asdict(first.counts) == counts(seen=1, new=1)
    assert asdict(again.counts) == counts(seen=1, unchanged=1)
    (row,) = rows(con).values()
    assert row["path"] == str(lib / "caf\ufffd \ufffd.flac")
    assert row["path_bytes"] == os.fsencode(os.path.join(lib, name))
    assert os.path.isfile(os.fsdecode(row["path_bytes"]))

    os.rename(os.path.join(lib, name), os.path.join(lib, os.fsdecode(b"na\xefve.flac")))
    moved = scan(con, lib, at=T2)
    assert asdict(moved.counts) == counts(seen=1, moved=1)
    assert rows(con)[str(lib / "na\ufffdve.flac")]["track_id"] == row["track_id"]


def test_directory_symlinks_are_followed_once_and_loops_reported(con, lib: Path, tmp_path: Path) -> None:
    write_audio(lib / "Album" / "a.flac", seed=1)
    (lib / "Album" / "up").symlink_to(lib)  # loop back to the root
    outside = write_audio(tmp_path / "other-disk" / "b.flac", seed=2).parent
    (lib / "linked").symlink_to(outside)  # a real use: a folder from another disk
    (lib / "alias").symlink_to(lib / "Album")  # second path to a folder already walked

    result = scan(con, lib)

    assert asdict(result.counts) == counts(seen=2, new=2)
    assert sorted(rows(con)) == [str(lib / "Album" / "a.flac"), str(lib / "linked" / "b.flac")]
    (loop,) = result.failures
    assert (loop.path, loop.error_type, loop.scope) == (str(lib / "Album" / "up"), "SymlinkLoop", "directory")


def test_file_deleted_between_listing_and_reading(con, lib: Path, monkeypatch) -> None:
    stays, goes = write_audio(lib / "stays.flac", seed=1), write_audio(lib / "goes.flac", seed=2)
    scan(con, lib)
    write_audio(goes, seed=3)  # changed, so it must be read again
    set_mtime(goes, T1)
    real_listing = scan_mod.list_audio_files

    def listing_then_delete(roots):
        listing = real_listing(roots)
        goes.unlink()
        return listing

    monkeypatch.setattr(scan_mod, "list_audio_files", listing_then_delete)
    result = scan(con, lib, at=T1)

    assert asdict(result.counts) == counts(seen=2, unchanged=1, failed=1)
    (failure,) = result.failures
    assert (failure.path, failure.error_type) == (str(goes), "FileVanished")
    assert "disappeared between listing and reading" in failure.message
    assert sorted(rows(con)) == sorted([str(stays), str(goes)])  # retired by the next scan, not this one
    monkeypatch.setattr(scan_mod, "list_audio_files", real_listing)
    assert asdict(scan(con, lib, at=T2).counts) == counts(seen=1, unchanged=1, deleted=1)


def test_known_file_that_turns_corrupt_keeps_its_last_good_row(con, lib: Path) -> None:
    path = write_audio(lib / "song.wav", seed=1, seconds=1.0)
    scan(con, lib)
    good = rows(con)[str(path)]
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])

    broken = scan(con, lib, at=T1)
    assert asdict(broken.counts) == counts(seen=1, failed=1)
    assert rows(con)[str(path)] == good

    path.write_bytes(data)  # repaired: same audio again
    repaired = scan(con, lib, at=T2)
    assert asdict(repaired.counts) == counts(seen=1, unchanged=1)
    assert rows(con)[str(path)]["track_id"] == good["track_id"]
    assert con.execute("SELECT count(*) FROM failures").fetchone()[0] == 0


@contextmanager
def unprivileged() -> Iterator[None]:
    """Drop to 'nobody' so permission bits bind even when the tests run as root."""
    if os.geteuid() != 0:
        yield
        return
    try:
        os.seteuid(65534)
    except PermissionError:
        pytest.skip("root without CAP_SETUID: permission bits cannot be enforced")
    try:
        yield
    finally:
        os.seteuid(0)


def test_unreadable_file_and_folder(tmp_path: Path) -> None:
    # Everything nobody must reach lives outside pytest's private (0700) tmp folder.
    lib = Path(tempfile.mkdtemp(prefix="melodex-perm-"))
    lib.chmod(0o755)
    con = duckdb.connect()  # in memory: nothing for nobody to write
    con.execute(ddl_statements())
    try:
        write_audio(lib / "open.flac", seed=1)
        known = write_audio(lib / "Locked" / "known.flac", seed=2)
        for folder in (lib, lib / "Locked"):
            folder.chmod(0o755)
        for path in (lib / "open.flac", known):
            path.chmod(0o644)
        assert scan(con, lib).counts.new == 2
        secret = write_audio(lib / "secret.flac", seed=3)
        secret.chmod(0)
        (lib / "Locked").chmod(0)

        with unprivileged():
            result = scan(con, lib, at=T1)

        assert asdict(result.counts) == counts(seen=2, unchanged=1, failed=1)
        failures = {(f.path, f.error_type, f.scope) for f in result.failures}
        assert failures == {
            (str(secret), "PermissionDenied", "file"),
            (str(lib / "Locked"), "UnreadableDirectory", "directory"),
        }
        assert str(known) in rows(con)  # unseen behind the locked folder, but not retired
    finally:
        for path in (lib / "Locked", lib / "secret.flac"):
            if path.exists():
                path.chmod(stat.S_IRWXU)
        shutil.rmtree(lib)
        con.close()


def test_summary_names_counts_batches_and_failures(con, lib: Path) -> None:
    write_audio(lib / "a.flac", seed=1)
    _empty(lib)
    text = format_scan_summary(scan(con, lib))
    assert re.search(r"scan-20261124T031500-01: 2 audio files in 1 root\(s\)", text)
    assert "new 1 |" in text and "failed 1" in text
    assert "1 batch(es): 20261124T031500-0001" in text
    assert f"EmptyFile: {lib / 'empty.mp3'}: file is empty" in text


def test_a_store_opener_is_not_held_while_new_files_are_read(tmp_path, monkeypatch):
    """With a factory, the DuckDB file is free (other writers may go on) while files are hashed."""
    library = tmp_path / "lib"
    for name in ("a.wav", "b.flac"):
        write_audio(library / name)
    database = tmp_path / "store.duckdb"
    open_connections = []

    @contextmanager
    def opener():
        with connect(database) as con:
            open_connections.append(con)
            try:
                yield con
            finally:
                open_connections.remove(con)

    real_read_files = scan_mod.read_files
    seen_while_reading = []

    def read_files(*args, **kwargs):
        seen_while_reading.append(len(open_connections))
        return real_read_files(*args, **kwargs)

    monkeypatch.setattr(scan_mod, "read_files", read_files)
    result = scan_library(opener, [library], batch_size=10)
    assert seen_while_reading == [0]
    assert result.counts.new == 2
    with connect(database, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM live_tracks").fetchone() == (2,)
