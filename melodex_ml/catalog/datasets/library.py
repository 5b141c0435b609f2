"""The user's own library as a dataset: rows of the ``tracks`` table, genre tags as labels."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from ..captions import synthesize_caption
from .audio import duration_of, find_audio
from .records import CatalogRecord, Parsed, attempt, optional_text, parse_float, require_text

DATASET = "library"


def parse(tracks: Iterable[Mapping[str, Any]]) -> Iterator[Parsed]:
    """``tracks``: dicts with track_id, path, title, artist, album, genres (list[str]), duration_s."""
    for number, track in enumerate(tracks, start=1):
        track_id = track.get("track_id")
        yield attempt(
            _record,
            track,
            dataset=DATASET,
            item=f"{DATASET}_{track_id}" if track_id is not None else f"tracks row {number}",
            path=track.get("path"),
        )


def _record(track: Mapping[str, Any]) -> CatalogRecord:
    track_id = require_text(track.get("track_id"), "track_id").strip()
    path = os.path.abspath(os.fspath(require_text(track.get("path"), "path")))
    audio_path = find_audio([path], f"library track {track_id}")
    genres = [g.strip() for g in (track.get("genres") or []) if optional_text(g)]
    seconds = track.get("duration_s")
    return CatalogRecord(
        id=f"{DATASET}_{track_id}",
        dataset=DATASET,
        source_id=track_id,
        audio_path=audio_path,
        caption=synthesize_caption(genres),
        caption_source="tags",
        duration=duration_of(audio_path, None if seconds is None else parse_float(seconds, "duration_s")),
        artist=optional_text(track.get("artist")),
        title=optional_text(track.get("title")),
        genres=genres,
        track_key=f"{DATASET}:{track_id}",
    )
