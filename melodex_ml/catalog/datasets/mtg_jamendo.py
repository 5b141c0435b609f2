"""MTG-Jamendo (Bogdanov et al. 2019): ``autotagging.tsv`` plus audio under ``<root>/<PATH>``.

Columns are TRACK_ID ARTIST_ID ALBUM_ID PATH DURATION TAGS, and a track's tags spill into further
tab-separated columns (``genre---rock``, ``mood/theme---happy``, ``instrument---piano``). The
audio is ``NN/<id>.mp3``, or ``NN/<id>.low.mp3`` for the low-quality download (``audio_suffix``).
Ids are Jamendo's (``track_0000214`` is Jamendo track 214), shared with Song Describer.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from ..captions import categorize_tags, synthesize_caption
from .audio import find_audio
from .records import CatalogRecord, Parsed, Reason, RecordInvalid, attempt, parse_float, require_text
from .tabular import BadRow, Row, column_index, metadata_file, read_table, row_error

DATASET = "mtg_jamendo"
LICENSE = "CC-BY-NC-SA-4.0"  # the metadata; the Jamendo audio carries per-track Creative Commons licences
COLUMNS = ("TRACK_ID", "ARTIST_ID", "ALBUM_ID", "PATH", "DURATION")
_NUMBER = re.compile(r"(\d+)$")


def parse(
    root: Path, *, audio_dir: Path | None = None, audio_suffix: str = ".mp3", tsv_name: str = "autotagging.tsv"
) -> Iterator[Parsed]:
    # The repository keeps its TSVs under data/; a flat copy next to the audio works too.
    table = read_table(
        metadata_file(root, [tsv_name, f"data/{tsv_name}"], DATASET), delimiter="\t", quoted=False, ragged=True
    )
    # The header names one TAGS column but rows carry any number of tag columns.
    table.header[0] = table.header[0][: len(COLUMNS)]
    col = column_index(table, COLUMNS, DATASET)
    audio_root = Path(audio_dir) if audio_dir is not None else root
    for row in table.rows:
        if isinstance(row, BadRow):
            yield row_error(DATASET, table, row)
            continue
        try:
            track_id = _jamendo_id(row.fields[col["TRACK_ID"]], "TRACK_ID")
        except RecordInvalid as exc:
            yield row_error(DATASET, table, row, exc.reason, exc.message)
            continue
        yield attempt(
            _record,
            track_id,
            row,
            col,
            audio_root,
            audio_suffix,
            dataset=DATASET,
            item=f"{DATASET}_{track_id}",
            path=table.path,
            line=row.line,
            raw=row.raw,
        )


def _jamendo_id(value: str, name: str) -> int:
    match = _NUMBER.search(value.strip())
    if not match:
        raise RecordInvalid(Reason.MALFORMED_ROW, f"{name} has no number: {value[:100]!r}")
    return int(match.group(1))


def split_tags(tags: list[str]) -> dict[str, list[str]]:
    """``["genre---rock", "mood/theme---happy"]`` -> ``{"genre": ["rock"], "mood/theme": ["happy"]}``."""
    groups: dict[str, list[str]] = {}
    for tag in tags:
        category, sep, value = tag.strip().partition("---")
        if value.strip() and sep:
            groups.setdefault(category, []).append(value.strip())
        elif tag.strip():
            groups.setdefault("other", []).append(tag.strip())
    return groups


def _record(track_id: int, row: Row, col: dict[str, int], audio_root: Path, audio_suffix: str) -> CatalogRecord:
    relative = require_text(row.fields[col["PATH"]], "PATH").strip()
    if audio_suffix != ".mp3":
        relative = relative.removesuffix(".mp3") + audio_suffix
    audio_path = find_audio([audio_root / relative], f"track {track_id}")
    groups = split_tags(row.fields[len(COLUMNS) :])
    genres, moods, instruments = groups.get("genre", []), groups.get("mood/theme", []), groups.get("instrument", [])
    artist = row.fields[col["ARTIST_ID"]].strip()
    return CatalogRecord(
        id=f"{DATASET}_{track_id}",
        dataset=DATASET,
        source_id=str(track_id),
        audio_path=audio_path,
        # Themes ("film", "christmas") do not read as adjectives; only mood words go into the sentence.
        caption=synthesize_caption(genres, categorize_tags(moods).moods, instruments),
        caption_source="tags",
        duration=parse_float(row.fields[col["DURATION"]], "DURATION"),
        tags=[value for values in groups.values() for value in values],
        genres=genres,
        license=LICENSE,
        track_key=f"jamendo:{track_id}",
        artist_key=f"jamendo-artist:{_jamendo_id(artist, 'ARTIST_ID')}" if artist else None,
    )
