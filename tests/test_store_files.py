"""Data files are replaced atomically; a full disk or read-only home is one clear error, nothing half-written.

The full-disk and read-only cases are real kernel errors: a child process mounts a tiny tmpfs in
its own mount namespace (``unshare``; skipped where namespaces are not allowed) and makes it full
or read-only under the real writers (disk_faults_child.py). The /dev/full case runs anywhere on Linux.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import make_dataclass
from pathlib import Path

import pytest

from melodex_ml.inference.genre import read_jsonl, write_jsonl
from melodex_ml.store import StorageError, atomic_path
from melodex_ml.store.files import temp_owner, temp_path
from melodex_ml.store.owners import Owner

CHILD = Path(__file__).resolve().parent / "disk_faults_child.py"


def test_atomic_path_replaces_on_success_and_keeps_the_old_file_on_error(tmp_path):
    target = tmp_path / "deep" / "out.txt"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp.name.startswith(".out.txt.")
        tmp.write_text("first")
    assert target.read_text() == "first"
    with pytest.raises(ZeroDivisionError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            1 / 0
    assert target.read_text() == "first"
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.txt"]


def test_temporary_names_carry_their_writer(tmp_path):
    tmp = temp_path(tmp_path / "b1.jsonl")
    assert temp_owner(tmp) == Owner.current()
    assert temp_owner(tmp_path / "b1.jsonl.tmp") is None  # not ours: no owner to ask


def test_a_write_to_a_full_device_is_a_clear_error_and_keeps_the_old_file(tmp_path):
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    target = tmp_path / "b1.jsonl"
    target.write_text('{"track_id": "old"}\n')
    # The writer's temporary file is /dev/full, where every write fails with ENOSPC.
    temp_path(target).symlink_to("/dev/full")
    row = make_dataclass("Row", ["track_id", "x"])  # write_jsonl takes dataclasses
    with pytest.raises(StorageError, match=f"^no space left in {tmp_path}$"):
        write_jsonl((row(f"t{i}", "y" * 100) for i in range(10_000)), target)
    assert read_jsonl(target) == [{"track_id": "old"}]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b1.jsonl"]


def _in_tmpfs(mode: str, tmp_path: Path) -> dict:
    unshare = shutil.which("unshare")
    if unshare is None or sys.platform != "linux":
        pytest.skip("needs util-linux unshare on Linux")
    mount = tmp_path / "mnt"
    mount.mkdir()
    probe = subprocess.run([unshare, "-rm", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"mount namespaces not allowed here: {probe.stderr.decode().strip()}")
    script = f'mount -t tmpfs -o size=16m tmpfs "$1" && exec "{sys.executable}" "{CHILD}" {mode} "$1"'
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [unshare, "-rm", "sh", "-c", script, "sh", str(mount)], capture_output=True, text=True, env=env, timeout=600
    )
    if "mount:" in done.stderr and done.returncode != 0:
        pytest.skip(f"tmpfs cannot be mounted here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr[-3000:]
    return {"mount": str(mount), **json.loads(done.stdout.strip().splitlines()[-1])}


@pytest.fixture(scope="module")
def full_disk(tmp_path_factory):
    return _in_tmpfs("full", tmp_path_factory.mktemp("full"))


@pytest.fixture(scope="module")
def read_only_home(tmp_path_factory):
    return _in_tmpfs("readonly", tmp_path_factory.mktemp("readonly"))


FOLDERS = {"jsonl": "predictions", "hdf5": "embeddings", "flac": "stems/t1", "duckdb": "store"}


@pytest.mark.parametrize("writer", FOLDERS)
def test_a_full_disk_is_named_and_nothing_is_half_written(full_disk, writer):
    outcome = full_disk[writer]
    assert (outcome["error"], outcome["message"]) == (
        "StorageError", f"no space left in {full_disk['mount']}/{FOLDERS[writer]}"
    )
    assert outcome["kept"] and outcome["leftovers"] == []


@pytest.mark.parametrize("writer", FOLDERS)
def test_a_read_only_home_is_named_and_nothing_is_half_written(read_only_home, writer):
    outcome = read_only_home[writer]
    assert (outcome["error"], outcome["message"]) == (
        "StorageError", f"{read_only_home['mount']}/{FOLDERS[writer]} is not writable"
    )
    assert outcome["kept"] and outcome["leftovers"] == []


def test_a_folder_that_cannot_be_created_is_named(read_only_home):
    assert read_only_home["new_folder"] == {
        "error": "StorageError", "message": f"{read_only_home['mount']}/new/folder is not writable"
    }
