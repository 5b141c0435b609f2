"""Song Describer (Manco et al. 2023): ``song_describer.csv``, one row per human caption.

Several captions describe one track: the first validated one becomes ``caption``, the others
``alt_captions``. The CSV's ``path`` says ``NN/<id>.mp3`` (NN = track_id % 100) but the published
audio is the 2-minute crop ``audio/NN/<id>.2min.mp3``; a full-length file at ``path`` is accepted
too. ``duration`` in the CSV is the full track's, so a 2-minute crop is capped at 120 s.
Track and artist ids are Jamendo's, shared with MTG-Jamendo, which the split keys reflect.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .audio import audio_folder, find_audio
from .records import (
    CatalogRecord,
    Parsed,
    Reason,
    RecordInvalid,
    attempt,
    parse_float,
    parse_int,
    require_text,
)
from .tabular import BadRow, Row, column_index, metadata_file, read_table, row_error

DATASET = "song_describer"
LICENSE = "CC-BY-SA-4.0"  # the captions; the Jamendo audio carries per-track Creative Commons licences
CLIP_SECONDS = 120.0
CLIP_SUFFIX = ".2min.mp3"
REQUIRED = ("caption_id", "track_id", "caption", "is_valid_subset", "artist_id", "path", "duration")


@dataclass(frozen=True)
class _Caption:
    row: Row
    caption_id: str
    track_id: int
    text: str
    valid: bool
    artist_id: str
    path: str
    duration: float


def parse(root: Path, *, audio_dir: Path | None = None) -> Iterator[Parsed]:
    table = read_table(metadata_file(root, ["song_describer.csv"], DATASET))
    col = column_index(table, REQUIRED, DATASET)
    by_track: dict[int, list[_Caption]] = {}
    caption_ids: set[str] = set()
    for row in table.rows:
        if isinstance(row, BadRow):
            yield row_error(DATASET, table, row)
            continue
        try:
            caption = _caption(row, col)
        except RecordInvalid as exc:
            yield row_error(DATASET, table, row, exc.reason, exc.message)
            continue
        if caption.caption_id in caption_ids:
            yield row_error(DATASET, table, row, Reason.DUPLICATE_ID, f"caption_id {caption.caption_id} seen before")
            continue
        caption_ids.add(caption.caption_id)
        by_track.setdefault(caption.track_id, []).append(caption)

    audio_root = audio_folder(root, audio_dir)
    for track_id, captions in by_track.items():
        first = captions[0].row
        yield attempt(
            _record,
            track_id,
            captions,
            audio_root,
            dataset=DATASET,
            item=f"{DATASET}_{track_id}",
            path=table.path,
            line=first.line,
            raw=first.raw,
        )


def _caption(row: Row, col: dict[str, int]) -> _Caption:
    def get(name: str) -> str:
        return row.fields[col[name]]

    return _Caption(
        row=row,
        caption_id=require_text(get("caption_id"), "caption_id").strip(),
        track_id=parse_int(get("track_id"), "track_id"),
        text=require_text(get("caption"), "caption"),
        valid=get("is_valid_subset").strip().casefold() in {"true", "1", "yes"},
        artist_id=get("artist_id").strip(),
        path=get("path").strip(),
        duration=parse_float(get("duration"), "duration"),
    )


def _record(track_id: int, captions: list[_Caption], audio_root: Path) -> CatalogRecord:
    # Validated captions first; otherwise file order, so the choice is stable.
    ordered = sorted(captions, key=lambda c: not c.valid)
    first = ordered[0]
    relative = first.path or f"{track_id % 100:02d}/{track_id}.mp3"
    stem = relative.removesuffix(".mp3")
    audio_path = find_audio([audio_root / f"{stem}{CLIP_SUFFIX}", audio_root / relative], f"track {track_id}")
    duration = min(first.duration, CLIP_SECONDS) if audio_path.endswith(CLIP_SUFFIX) else first.duration
    artist_id = first.artist_id.removesuffix(".0")  # pandas may have written ids as floats
    return CatalogRecord(
        id=f"{DATASET}_{track_id}",
        dataset=DATASET,
        source_id=str(track_id),
        audio_path=audio_path,
        caption=first.text,
        alt_captions=tuple(c.text for c in ordered[1:]),
        duration=duration,
        caption_source="human",
        license=LICENSE,
        track_key=f"jamendo:{track_id}",
        artist_key=f"jamendo-artist:{artist_id}" if artist_id else None,
    )
