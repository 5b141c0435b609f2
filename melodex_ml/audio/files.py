"""Which files a command that takes PATH... analyses: files named directly, audio files under folders."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


def audio_files(paths: Iterable[Path | str]) -> list[Path]:
    """Files named directly (whatever their suffix) and audio files found under named folders."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            # The scanner's list, imported only for folders: its module brings DuckDB and Arrow.
            from melodex_ml.catalog.scan import AUDIO_EXTENSIONS

            found += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)
        else:
            found.append(path)  # missing files too: they are reported as failures, not skipped
    return found
