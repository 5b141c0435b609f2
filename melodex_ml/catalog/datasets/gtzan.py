"""GTZAN-style genre folders: ``<root>/<genre>/<file>`` (``genres/``, Kaggle's ``Data/genres_original/``).

The folder name is the genre label and the caption is synthesised from it. GTZAN has no artist
metadata, so its known replicas and same-artist excerpts cannot be grouped here: each file is
its own group when splitting.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from ..captions import synthesize_caption
from .audio import audio_stem, find_audio, is_audio, read_duration
from .records import CatalogRecord, DatasetUnavailable, Parsed, Reason, attempt

DATASET = "gtzan"
GENRE_FOLDER_CANDIDATES = ("", "genres", "genres_original", "Data/genres_original")


def genre_folder(root: Path) -> Path:
    """The folder whose subfolders are genres holding audio files."""
    for candidate in GENRE_FOLDER_CANDIDATES:
        folder = root / candidate
        if folder.is_dir() and any(
            sub.is_dir() and any(is_audio(name) for name in os.listdir(sub)) for sub in folder.iterdir()
        ):
            return folder
    raise DatasetUnavailable(Reason.MISSING_METADATA, f"{DATASET}: no <genre>/<audio file> folders under {root}")


def parse(root: Path, *, audio_dir: Path | None = None) -> Iterator[Parsed]:
    base = Path(audio_dir) if audio_dir is not None else genre_folder(root)
    for genre_dir in sorted(p for p in base.iterdir() if p.is_dir()):
        genre = genre_dir.name
        for name in sorted(n for n in os.listdir(genre_dir) if is_audio(n)):
            source_id = f"{genre}/{audio_stem(name)}"
            path = genre_dir / name
            yield attempt(
                _record,
                source_id,
                genre,
                path,
                dataset=DATASET,
                item=f"{DATASET}_{source_id}",
                path=path,
            )


def _record(source_id: str, genre: str, path: Path) -> CatalogRecord:
    audio_path = find_audio([path], source_id)
    return CatalogRecord(
        id=f"{DATASET}_{source_id}",
        dataset=DATASET,
        source_id=source_id,
        audio_path=audio_path,
        caption=synthesize_caption([genre]),
        caption_source="tags",
        duration=read_duration(audio_path),
        genres=(genre,),
    )
