"""Free Music Archive (Defferrard et al. 2017): ``fma_metadata/tracks.csv`` plus ``fma_<size>/`` audio.

``tracks.csv`` is pandas' dump of a two-level column index (what ``pd.read_csv(header=[0, 1],
index_col=0)`` reads back): a group line (album/artist/set/track), a field line, then a line holding
only the index name ``track_id``. List columns (``genres_all``, ``tags``) are Python literals.
``set.subset`` names the smallest subset holding a track (small within medium within large), so
``fma_medium`` takes small and medium tracks. Audio lives at ``fma_<size>/000/000002.mp3``: the
folder is the first three digits of the six-digit id.

There are no human captions, so the caption is synthesised from the top genre and the user tags.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..captions import caption_from_tags
from .audio import duration_of, find_audio
from .records import (
    CatalogError,
    CatalogRecord,
    DatasetUnavailable,
    Parsed,
    Reason,
    RecordInvalid,
    attempt,
    literal_list,
    optional_text,
    parse_float,
    parse_int,
)
from .tabular import BadRow, Row, Table, column_index, metadata_file, read_table, row_error

DATASET = "fma"
SIZES = ("small", "medium", "large", "full")
_SUBSET_RANK = {"small": 0, "medium": 1, "large": 2}
OFFICIAL_SPLITS = {"training": "train", "validation": "val", "test": "test"}
REQUIRED = (("track", "genre_top"), ("track", "genres_all"), ("set", "subset"), ("set", "split"))


@dataclass(frozen=True)
class Genre:
    title: str
    top_level: int | None


def parse(root: Path, *, size: str = "small", audio_dir: Path | None = None) -> Iterator[Parsed]:
    if size not in SIZES:
        raise ValueError(f"FMA size must be one of {SIZES}, not {size!r}")
    tracks_path = metadata_file(root, ["fma_metadata/tracks.csv", "tracks.csv"], DATASET)
    genres: dict[int, Genre] = {}
    genres_path = tracks_path.parent / "genres.csv"
    if genres_path.is_file():
        yield from _read_genres(genres_path, genres)

    table = read_table(tracks_path, header_lines=2)
    col = _columns(table)
    audio_root = Path(audio_dir) if audio_dir is not None else root / f"fma_{size}"
    for row in table.rows:
        if isinstance(row, BadRow):
            yield row_error(DATASET, table, row)
            continue
        if row.fields[0].strip() == "track_id" and not any(f.strip() for f in row.fields[1:]):
            continue  # the index-name line of the real three-line header
        try:
            track_id = parse_int(row.fields[0], "track_id")
            if not _in_size(row.fields[col["set", "subset"]].strip(), size):
                continue
        except RecordInvalid as exc:
            yield row_error(DATASET, table, row, exc.reason, exc.message)
            continue
        yield attempt(
            _record,
            track_id,
            row,
            col,
            genres,
            size,
            audio_root,
            dataset=DATASET,
            item=f"{DATASET}_{track_id}",
            path=table.path,
            line=row.line,
            raw=row.raw,
        )


def _columns(table: Table) -> dict[tuple[str, str], int]:
    if len(table.header) < 2:
        raise DatasetUnavailable(Reason.UNREADABLE_METADATA, f"{DATASET}: {table.path} lacks its two header lines")
    col = {(g.strip(), f.strip()): i for i, (g, f) in enumerate(zip(*table.header[:2], strict=False))}
    missing = [".".join(key) for key in REQUIRED if key not in col]
    if missing:
        raise DatasetUnavailable(
            Reason.UNREADABLE_METADATA, f"{DATASET}: {table.path} lacks column(s) {', '.join(missing)}"
        )
    return col


def _in_size(subset: str, size: str) -> bool:
    if size == "full":
        return True
    return subset in _SUBSET_RANK and _SUBSET_RANK[subset] <= _SUBSET_RANK[size]


def _read_genres(path: Path, genres: dict[int, Genre]) -> Iterator[CatalogError]:
    table = read_table(path)
    col = column_index(table, ("genre_id", "title"), DATASET)
    for row in table.rows:
        if isinstance(row, BadRow):
            yield row_error(DATASET, table, row)
            continue
        try:
            genre_id = parse_int(row.fields[col["genre_id"]], "genre_id")
            top = row.fields[col["top_level"]] if "top_level" in col else ""
            genres[genre_id] = Genre(row.fields[col["title"]].strip(), parse_int(top, "top_level") if top else None)
        except RecordInvalid as exc:
            yield row_error(DATASET, table, row, exc.reason, exc.message)


def _record(
    track_id: int, row: Row, col: dict[tuple[str, str], int], genres: dict[int, Genre], size: str, audio_root: Path
) -> CatalogRecord:
    def get(group: str, name: str) -> str:
        return row.fields[col[group, name]] if (group, name) in col else ""

    genre_ids = [parse_int(g, "track.genres_all") for g in literal_list(get("track", "genres_all"), "genres_all")]
    genre_top = get("track", "genre_top").strip()
    titles = [genres[g].title for g in genre_ids if g in genres]
    labels = list(dict.fromkeys([genre_top, *titles] if genre_top else titles))
    # Tracks spanning several top genres have no genre_top; caption them with their top-level genres.
    caption_genres = (
        [genre_top] if genre_top else [genres[g].title for g in genre_ids if g in genres and genres[g].top_level == g]
    )
    tags = [str(t) for t in literal_list(get("track", "tags"), "tags")]

    tid = f"{track_id:06d}"
    audio_path = find_audio([audio_root / tid[:3] / f"{tid}.mp3"], f"track {track_id}")
    # tracks.csv gives the full track's length; every size but "full" ships 30 s clips, so read the clip.
    metadata_duration = parse_float(get("track", "duration"), "track.duration") if size == "full" else None
    artist = optional_text(get("artist", "name"))
    artist_id = get("artist", "id").strip()
    split = get("set", "split").strip()
    return CatalogRecord(
        id=f"{DATASET}_{track_id}",
        dataset=DATASET,
        source_id=str(track_id),
        audio_path=audio_path,
        caption=caption_from_tags(caption_genres, tags),
        caption_source="tags",
        duration=duration_of(audio_path, metadata_duration),
        artist=artist,
        title=optional_text(get("track", "title")),
        tags=tags,
        genres=labels,
        license=optional_text(get("track", "license")),
        track_key=f"fma:{track_id}",
        artist_key=None if artist or not artist_id else f"fma-artist:{artist_id}",
        official_split=OFFICIAL_SPLITS.get(split),
    )
