"""Builders that write small research datasets in their real published layouts (for tests).

Each builder writes metadata exactly as the dataset ships it and real (tiny) audio files, so the
parsers are tested on the formats users download, not on a simplified stand-in.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

SAMPLE_RATE = 8000
_FORMATS = {".wav": "WAV", ".mp3": "MP3", ".flac": "FLAC", ".ogg": "OGG", ".au": "AU"}


def write_audio(path: Path | bytes, seconds: float = 0.5) -> Path | bytes:
    """A real audio file of ``seconds`` (format from the extension); ``path`` may be bytes (odd names)."""
    name = os.fsdecode(path)
    fmt = next((f for ext, f in _FORMATS.items() if name.endswith(ext)), "WAV")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tone = 0.1 * np.sin(2 * np.pi * 440 * np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE).astype("float32")
    with open(path, "wb") as handle:
        sf.write(handle, tone, SAMPLE_RATE, format=fmt)
    return path


def write_csv(path: Path, header: list[str], rows: list[list[object]], delimiter: str = ",") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return path


# --- Song Describer -----------------------------------------------------------------------------

SONG_DESCRIBER_HEADER = [
    "caption_id",
    "track_id",
    "caption",
    "is_valid_subset",
    "familiarity",
    "artist_id",
    "album_id",
    "path",
    "duration",
]


@dataclass
class SongDescriberCaption:
    caption_id: int
    track_id: int
    caption: str
    is_valid_subset: bool = True
    artist_id: int = 7
    duration: float = 200.0


def write_song_describer(root: Path, captions: list[SongDescriberCaption], with_audio: set[int] | None = None) -> Path:
    """``song_describer.csv`` plus ``audio/NN/<id>.2min.mp3`` for the tracks in ``with_audio`` (all by default)."""
    rows = [
        [
            c.caption_id,
            c.track_id,
            c.caption,
            c.is_valid_subset,
            2,
            c.artist_id,
            40,
            f"{c.track_id % 100:02d}/{c.track_id}.mp3",
            c.duration,
        ]
        for c in captions
    ]
    write_csv(root / "song_describer.csv", SONG_DESCRIBER_HEADER, rows)
    for track_id in {c.track_id for c in captions} if with_audio is None else with_audio:
        write_audio(root / "audio" / f"{track_id % 100:02d}" / f"{track_id}.2min.mp3", 0.3)
    return root


# --- FMA ----------------------------------------------------------------------------------------

# genre_id, #tracks, parent, title, top_level: a slice of the real genres.csv.
FMA_GENRES = [
    (12, 32923, 0, "Rock", 12),
    (15, 34413, 0, "Electronic", 15),
    (21, 8389, 0, "Hip-Hop", 21),
    (25, 9261, 12, "Punk", 12),
    (236, 1608, 15, "Ambient Electronic", 15),
    (811, 1224, 21, "Hip-Hop Beats", 21),
]


@dataclass
class FmaTrack:
    track_id: int
    genre_top: str
    genres_all: list[int]
    subset: str = "small"
    split: str = "training"
    title: str = "Song"
    artist: str = "Artist"
    artist_id: int = 1
    tags: list[str] = field(default_factory=list)
    duration: int = 250
    license: str = "Attribution-NonCommercial-ShareAlike 3.0 International"
    bio: str = '<p>Line one\nline two, with "quotes"</p>'


def fma_audio_path(root: Path, track_id: int, size: str = "small") -> Path:
    tid = f"{track_id:06d}"
    return root / f"fma_{size}" / tid[:3] / f"{tid}.mp3"


def write_fma(
    root: Path, tracks: list[FmaTrack], size: str = "small", audio_seconds: float = 0.4, with_audio=None
) -> Path:
    """``fma_metadata/tracks.csv`` exactly as pandas dumps the real two-level frame, ``genres.csv``,
    and ``fma_<size>/NNN/NNNNNN.mp3`` for the tracks in ``with_audio`` (all by default)."""
    import pandas as pd

    columns = pd.MultiIndex.from_tuples(
        [
            ("album", "id"),
            ("album", "title"),
            ("artist", "bio"),
            ("artist", "id"),
            ("artist", "name"),
            ("set", "split"),
            ("set", "subset"),
            ("track", "duration"),
            ("track", "genre_top"),
            ("track", "genres"),
            ("track", "genres_all"),
            ("track", "license"),
            ("track", "tags"),
            ("track", "title"),
        ]
    )
    data = [
        [
            1,
            "Album",
            t.bio,
            t.artist_id,
            t.artist,
            t.split,
            t.subset,
            t.duration,
            t.genre_top,
            t.genres_all[-1:],
            t.genres_all,
            t.license,
            t.tags,
            t.title,
        ]
        for t in tracks
    ]
    frame = pd.DataFrame(data, columns=columns, index=pd.Index([t.track_id for t in tracks], name="track_id"))
    meta = root / "fma_metadata"
    meta.mkdir(parents=True, exist_ok=True)
    frame.to_csv(meta / "tracks.csv")
    write_csv(
        meta / "genres.csv", ["genre_id", "#tracks", "parent", "title", "top_level"], [list(g) for g in FMA_GENRES]
    )
    for t in tracks:
        if with_audio is None or t.track_id in with_audio:
            write_audio(fma_audio_path(root, t.track_id, size), audio_seconds)
    return root


# --- MTG-Jamendo --------------------------------------------------------------------------------


def write_mtg_jamendo(root: Path, rows: list[tuple[int, int, float, list[str]]], suffix: str = ".mp3") -> Path:
    """``autotagging.tsv`` (tags spilling into extra columns) and ``NN/<id><suffix>`` audio.

    rows: (track id, artist id, duration, tags)."""
    lines = ["TRACK_ID\tARTIST_ID\tALBUM_ID\tPATH\tDURATION\tTAGS"]
    for track_id, artist_id, duration, tags in rows:
        path = f"{track_id % 100:02d}/{track_id}.mp3"
        lines.append(
            "\t".join([f"track_{track_id:07d}", f"artist_{artist_id:06d}", "album_000001", path, f"{duration}", *tags])
        )
        write_audio(root / path.replace(".mp3", suffix), 0.2)
    root.mkdir(parents=True, exist_ok=True)
    (root / "autotagging.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


# --- MusicCaps ----------------------------------------------------------------------------------

MUSICCAPS_HEADER = [
    "ytid",
    "start_s",
    "end_s",
    "audioset_positive_labels",
    "aspect_list",
    "caption",
    "author_id",
    "is_balanced_subset",
    "is_audioset_eval",
]


def musiccaps_row(ytid: str, start: int, caption: str, aspects: list[str], evaluation: bool = False) -> list[object]:
    return [ytid, start, start + 10, "/m/0glt670,/m/04rlf", repr(aspects), caption, 4, False, evaluation]


def write_musiccaps(root: Path, rows: list[list[object]]) -> Path:
    return write_csv(root / "musiccaps-public.csv", MUSICCAPS_HEADER, rows).parent


# --- JamendoMaxCaps-style exports ---------------------------------------------------------------


def write_jamendo_max_caps_parquet(path: Path, rows: list[dict]) -> Path:
    """A Hugging Face style shard: ``audio`` as the ``Audio`` struct (bytes + path)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def write_jsonl(path: Path, rows: list[dict | str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


# --- GTZAN ---------------------------------------------------------------------------------------


def write_gtzan(folder: Path, per_genre: dict[str, int], ext: str = ".wav", seconds: float = 0.3) -> Path:
    """``<folder>/<genre>/<genre>.NNNNN<ext>``; GTZAN ships ``folder`` as ``genres/`` (Kaggle:
    ``Data/genres_original/``)."""
    for genre, count in per_genre.items():
        for i in range(count):
            write_audio(folder / genre / f"{genre}.{i:05d}{ext}", seconds)
    return folder


# --- In-memory records (sampling and split tests need no files) -----------------------------------


def make_record(id_: str, dataset: str = "fma", **fields):
    from melodex_ml.catalog.datasets.records import CatalogRecord

    fields.setdefault("duration", 30.0)
    fields.setdefault("caption", "A music track")
    fields.setdefault("audio_path", f"/data/{dataset}/{id_}.mp3")
    return CatalogRecord(id=f"{dataset}_{id_}", dataset=dataset, source_id=id_, **fields)
