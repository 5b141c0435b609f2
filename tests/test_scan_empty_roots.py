"""A library root that is there but empty (an unmounted NAS share) or unreadable retires nothing."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

import duckdb
import pytest
from test_scan import T0, T1, T2, counts, unprivileged
from test_scan_support import write_audio

from melodex_ml.catalog.scan import scan_library
from melodex_ml.store import apply_migrations, connect


def scan(con, *roots: Path, at: datetime):
    return scan_library(con, list(roots), batch_size=100, now=at)


def live(con) -> set[str]:
    return {r[0] for r in con.execute("SELECT path FROM live_tracks").fetchall()}


def test_an_empty_root_with_known_tracks_retires_nothing_and_says_why(tmp_path):
    nas, local = tmp_path / "nas", tmp_path / "local"
    songs = [write_audio(nas / "Album" / f"{n}.flac", seed=n) for n in range(3)]
    write_audio(local / "x.flac", seed=9)
    with connect(tmp_path / "store.duckdb") as con:
        assert scan(con, nas, local, at=T0).counts.new == 4

        shutil.rmtree(nas)
        nas.mkdir()  # the mount point of a share that did not mount
        result = scan(con, nas, local, at=T1)
        assert asdict(result.counts) == counts(seen=1, unchanged=1)
        assert live(con) == {str(p) for p in songs} | {str(local / "x.flac")}
        warning = con.execute("SELECT item, error_type, message FROM failures WHERE stage = 'scan'").fetchall()
        assert [(item, kind) for item, kind, _ in warning] == [(str(nas), "EmptyRoot")]
        assert "3 live track(s)" in warning[0][2] and "MELODEX_LIBRARY_ROOTS" in warning[0][2]

        # The share mounts again: everything is where it was, and the warning goes away.
        for n, path in enumerate(songs):
            write_audio(path, seed=n)
        back = scan(con, nas, local, at=T2)
        assert back.counts.deleted == 0 and back.counts.new == 0
        assert con.execute("SELECT count(*) FROM failures").fetchone()[0] == 0


def test_a_new_empty_root_is_simply_empty_and_dropping_a_root_still_retires(tmp_path):
    first, empty = tmp_path / "first", tmp_path / "empty"
    write_audio(first / "a.flac", seed=1)
    empty.mkdir()
    with connect(tmp_path / "store.duckdb") as con:
        result = scan(con, first, empty, at=T0)
        assert result.counts.new == 1 and result.failures == []
        shutil.rmtree(first)
        first.mkdir()
        assert scan(con, first, empty, at=T1).failures[0].error_type == "EmptyRoot"
        # The user says the library is gone by removing the root: its tracks are retired.
        assert scan(con, empty, at=T2).counts.deleted == 1
        assert live(con) == set()


def test_an_unreadable_root_retires_nothing(tmp_path):
    # Outside pytest's private (0700) tmp folder, so that only the root's own bits decide.
    root = Path(tempfile.mkdtemp(prefix="melodex-root-"))
    con = duckdb.connect()  # in memory: nothing for nobody to write
    apply_migrations(con)
    try:
        root.chmod(0o755)
        song = write_audio(root / "a.flac", seed=1)
        song.chmod(0o644)
        assert scan(con, root, at=T0).counts.new == 1
        root.chmod(0)
        with unprivileged():
            try:
                os.listdir(root)
                pytest.skip("permission bits are not enforced for this user")
            except PermissionError:
                pass
            result = scan(con, root, at=T1)
        assert result.counts.deleted == 0
        assert [(f.path, f.error_type) for f in result.failures] == [(str(root), "UnreadableDirectory")]
        assert live(con) == {str(song)}
    finally:
        root.chmod(0o755)
        shutil.rmtree(root)
        con.close()
