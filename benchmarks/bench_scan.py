"""Scan throughput: first scan vs rescan of an unchanged library of tiny, valid audio files.

    .venv/bin/python benchmarks/bench_scan.py            # 20,000 files
    .venv/bin/python benchmarks/bench_scan.py --files 2000 --keep /tmp/lib

Builds <artist>/<album>/<nn>.<ext> folders of 10 files (WAV, FLAC, some MP3 and Ogg Vorbis,
every file with its own noise so every audio hash differs, every fifth FLAC tagged), scans it
into a fresh DuckDB store twice and prints files/second for both scans and their ratio. It also
times the listing alone with os.scandir recursion against Path.rglob + stat.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
from mutagen.flac import FLAC

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from melodex_ml.catalog.scan import AUDIO_EXTENSIONS, list_audio_files, scan_library
from melodex_ml.store import connect

# (extension, soundfile format, subtype, share of files)
FORMATS = (
    ("wav", "WAV", "PCM_16", 0.5),
    ("flac", "FLAC", "PCM_16", 0.4),
    ("mp3", "MP3", "MPEG_LAYER_III", 0.05),
    ("ogg", "OGG", "VORBIS", 0.05),
)


def build_library(root: Path, n_files: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    kinds = np.repeat(np.arange(len(FORMATS)), [round(share * n_files) + 1 for *_, share in FORMATS])
    kinds = rng.permutation(kinds)[:n_files]
    for i, kind in enumerate(kinds):
        ext, fmt, subtype, _ = FORMATS[kind]
        folder = root / f"artist_{i // 100:04d}" / f"album_{i // 10 % 10:02d}"
        if i % 10 == 0:
            folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{i % 10:02d}.{ext}"
        samples = (0.1 * rng.standard_normal(1152 if ext == "mp3" else 256)).astype("float32")
        sf.write(path, samples, 8000, format=fmt, subtype=subtype)
        if ext == "flac" and i % 5 == 0:
            tags = FLAC(path)
            tags.update({"title": f"Track {i}", "artist": f"Artist {i // 100}", "genre": ["Rock", "Pop"]})
            tags.save()


def time_listing(root: Path) -> tuple[float, float, int]:
    start = time.perf_counter()
    listed = list_audio_files([str(root)]).files
    scandir_s = time.perf_counter() - start
    start = time.perf_counter()
    found = [(p, p.stat().st_size) for p in root.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file()]
    rglob_s = time.perf_counter() - start
    assert len(found) == len(listed)
    return scandir_s, rglob_s, len(listed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--keep", type=Path, help="build the library here and keep it (default: temp dir)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="melodex-bench-") as tmp:
        root = args.keep or Path(tmp) / "library"
        start = time.perf_counter()
        if not root.exists() or not any(root.iterdir()):
            build_library(root, args.files)
        print(f"library: {args.files} files under {root} (built in {time.perf_counter() - start:.1f} s)")
        print(f"cores: {os.cpu_count()}")

        scandir_s, rglob_s, listed = time_listing(root)
        print(f"listing {listed} files: os.scandir walk {scandir_s:.3f} s, Path.rglob + stat {rglob_s:.3f} s")

        with connect(Path(tmp) / "bench.duckdb") as con:
            timings = []
            for label in ("first scan", "rescan"):
                start = time.perf_counter()
                result = scan_library(con, [root], batch_size=args.batch_size)
                elapsed = time.perf_counter() - start
                timings.append(elapsed)
                c = result.counts
                print(
                    f"{label:10s}: {elapsed:7.2f} s  {c.seen / elapsed:9.0f} files/s  "
                    f"(new {c.new}, unchanged {c.unchanged}, failed {c.failed}, batches {len(result.batch_ids)})"
                )
        print(f"rescan is {timings[0] / timings[1]:.1f}x faster than the first scan")


if __name__ == "__main__":
    main()
