"""Run inside a private mount namespace on a tiny tmpfs (see test_store_files.py): real ENOSPC / EROFS.

    python disk_faults_child.py full|readonly <mount point>

Each scenario writes a good file first, then breaks the disk (fills it, or remounts it read-only),
tries to replace the file through the real writer, and reports what happened as one JSON line:
the exception type and message, whether the old content survived, and leftover temporary files.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(sys.argv[2])


def fill(folder: Path) -> Path:
    """Write a filler file until the kernel says ENOSPC."""
    filler = folder / "filler"
    with filler.open("wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    with filler.open("ab", buffering=0) as handle:  # the last few bytes of the last block
        try:
            while True:
                handle.write(b"\0")
        except OSError:
            pass
    return filler


def attempt(write: Callable[[], object]) -> dict[str, str | None]:
    try:
        write()
    except Exception as exc:  # noqa: BLE001 -- reported to the test, which judges it
        return {"error": type(exc).__name__, "message": str(exc)}
    return {"error": None, "message": None}


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*.tmp"))


def predictions(n: int):
    from melodex_ml.inference.genre import GlobalPrediction, SegmentPrediction, TrackPrediction

    labels = {f"genre{i}": 1.0 / 50 for i in range(50)}
    for i in range(n):
        yield TrackPrediction(
            f"t{i}", f"/music/{i}.flac", "segments", 1, [SegmentPrediction(0, 0.0, 30.0, labels)],
            GlobalPrediction(["genre0"], [0.02], labels), [0.0] * 200, {"name": "m", "version": "1"},
        )


def scenarios(break_disk: Callable[[Path], None], repair: Callable[[Path], None]) -> dict[str, dict]:
    from melodex_ml.embeddings.hdf5 import TrackEmbedding, read_embeddings, write_embeddings
    from melodex_ml.inference.genre import read_jsonl, write_jsonl
    from melodex_ml.stems import write_stems
    from melodex_ml.store import connect, insert_rows

    report = {}

    # JSONL predictions
    folder = ROOT / "predictions"
    target = folder / "b1.jsonl"
    write_jsonl(predictions(2), target)
    break_disk(folder)
    outcome = attempt(lambda: write_jsonl(predictions(5000), target))
    outcome.update(kept=len(read_jsonl(target)) == 2, leftovers=leftovers(folder))
    repair(folder)
    report["jsonl"] = outcome

    # HDF5 embeddings
    folder = ROOT / "embeddings"
    small = [TrackEmbedding("t0", np.ones(8, np.float32))]
    big = [TrackEmbedding(f"t{i}", np.random.default_rng(i).normal(size=4096).astype(np.float32)) for i in range(200)]
    write_embeddings(folder, "b1", small, model_id="m", pooling="mean")
    break_disk(folder)
    outcome = attempt(lambda: write_embeddings(folder, "b1", big, model_id="m", pooling="mean"))
    outcome.update(kept=read_embeddings(folder / "b1.h5").track_ids == ["t0"], leftovers=leftovers(folder))
    repair(folder)
    report["hdf5"] = outcome

    # FLAC stems (libsndfile reports a full disk only as "System error")
    folder = ROOT / "stems"
    rng = np.random.default_rng(0)
    write_stems("t1", {"vocals": 0.1 * rng.standard_normal((2, 4410))}, 44100, folder)
    old = (folder / "t1" / "vocals.flac").read_bytes()
    break_disk(folder)
    noise = {"vocals": 0.5 * rng.standard_normal((2, 44100 * 30))}
    outcome = attempt(lambda: write_stems("t1", noise, 44100, folder))
    outcome.update(kept=(folder / "t1" / "vocals.flac").read_bytes() == old, leftovers=leftovers(folder))
    repair(folder)
    report["flac"] = outcome

    # The DuckDB store
    db = ROOT / "store" / "melodex.duckdb"
    with connect(db) as con:
        insert_rows(con, "failures", [{"stage": "s", "item": "kept", "error_type": "E", "message": "m"}])
    break_disk(db.parent)
    rows = [{"stage": "s", "item": f"new{i}", "error_type": "E", "message": os.urandom(2000).hex()} for i in range(3000)]

    def store_write() -> None:
        with connect(db) as con:
            insert_rows(con, "failures", rows)
            con.execute("CHECKPOINT")

    outcome = attempt(store_write)
    repair(db.parent)
    with connect(db, read_only=True) as con:
        outcome["kept"] = con.execute("SELECT list(item) FROM failures").fetchone()[0] == ["kept"]
    outcome["leftovers"] = []
    report["duckdb"] = outcome
    return report


def main() -> None:
    mode = sys.argv[1]
    fillers: dict[Path, Path] = {}

    if mode == "full":
        def break_disk(folder: Path) -> None:
            fillers[folder] = fill(ROOT)

        def repair(folder: Path) -> None:
            fillers.pop(folder).unlink()
    else:
        def break_disk(folder: Path) -> None:
            subprocess.run(["mount", "-o", "remount,ro", str(ROOT)], check=True)

        def repair(folder: Path) -> None:
            subprocess.run(["mount", "-o", "remount,rw", str(ROOT)], check=True)

    report = scenarios(break_disk, repair)
    if mode == "readonly":
        from melodex_ml.store import ensure_folder

        subprocess.run(["mount", "-o", "remount,ro", str(ROOT)], check=True)
        report["new_folder"] = attempt(lambda: ensure_folder(ROOT / "new" / "folder"))
    print(json.dumps(report))


if __name__ == "__main__":
    main()
