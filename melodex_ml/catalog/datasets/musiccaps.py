"""MusicCaps (Agostinelli et al. 2023): ``musiccaps-public.csv`` plus a folder of downloaded audio.

The CSV only names YouTube clips (ytid, start_s, end_s); downloaders save them under different
names, all of which are looked up under the audio folder, recursively, with any audio extension:
``{ytid}_{start}-{end}``, ``[{ytid}]-[{start}-{end}]`` and plain ``{ytid}``. A plain ``{ytid}`` file
longer than the 10 s clip is taken to be the whole video: the record then points into it with
``clip_start = start_s``. The aspect list becomes the tags; ``is_audioset_eval`` gives the split
commonly used as MusicCaps' test set (kept as ``official_split``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from .audio import audio_folder, find_audio, index_audio, read_duration
from .records import (
    CatalogRecord,
    Parsed,
    Reason,
    RecordInvalid,
    attempt,
    literal_list,
    parse_float,
    require_text,
)
from .tabular import BadRow, Row, column_index, metadata_file, read_table, row_error

DATASET = "musiccaps"
LICENSE = "CC-BY-SA-4.0"  # the captions; the audio stays on YouTube under its uploaders' terms
REQUIRED = ("ytid", "start_s", "end_s", "caption")
# A plain {ytid} file this much longer than the clip is the full video rather than the clip.
FULL_VIDEO_SLACK_S = 1.0


def parse(root: Path, *, audio_dir: Path | None = None) -> Iterator[Parsed]:
    table = read_table(metadata_file(root, ["musiccaps-public.csv"], DATASET))
    col = column_index(table, REQUIRED, DATASET)
    by_stem = index_audio(audio_folder(root, audio_dir))
    for row in table.rows:
        if isinstance(row, BadRow):
            yield row_error(DATASET, table, row)
            continue
        ytid = row.fields[col["ytid"]].strip()
        yield attempt(
            _record,
            ytid,
            row,
            col,
            by_stem,
            dataset=DATASET,
            item=f"{DATASET}_{ytid}" if ytid else f"{table.path.name}:{row.line}",
            path=table.path,
            line=row.line,
            raw=row.raw,
        )


def clip_names(ytid: str, start: float, end: float) -> list[str]:
    """File stems downloaders give a clip, most specific first."""
    spellings = dict.fromkeys([(f"{start:g}", f"{end:g}"), (str(float(start)), str(float(end)))])
    names = [name for s, e in spellings for name in (f"{ytid}_{s}-{e}", f"[{ytid}]-[{s}-{e}]")]
    return [*names, ytid]


def _record(ytid: str, row: Row, col: dict[str, int], by_stem: dict[str, str]) -> CatalogRecord:
    def get(name: str) -> str:
        return row.fields[col[name]] if name in col else ""

    require_text(ytid, "ytid")
    start, end = parse_float(get("start_s"), "start_s"), parse_float(get("end_s"), "end_s")
    if not 0 <= start < end:
        raise RecordInvalid(Reason.MALFORMED_ROW, f"start_s {start} and end_s {end} do not make a clip")
    names = clip_names(ytid, start, end)
    audio_path = find_audio([by_stem[n] for n in names if n in by_stem], f"clip {ytid} [{start:g}-{end:g}]")
    clip_seconds, clip_start = end - start, 0.0
    if by_stem.get(ytid) == audio_path:
        file_seconds = read_duration(audio_path)
        if file_seconds > clip_seconds + FULL_VIDEO_SLACK_S:
            if file_seconds < end - FULL_VIDEO_SLACK_S:
                raise RecordInvalid(
                    Reason.MISSING_AUDIO,
                    f"{audio_path} lasts {file_seconds:.1f} s: neither the {clip_seconds:g} s clip "
                    f"nor a video reaching {end:g} s",
                )
            clip_start = start
    tags = [str(t) for t in literal_list(get("aspect_list"), "aspect_list")]
    evaluation = get("is_audioset_eval").strip().casefold()
    return CatalogRecord(
        id=f"{DATASET}_{ytid}",
        dataset=DATASET,
        source_id=ytid,
        audio_path=audio_path,
        caption=require_text(get("caption"), "caption"),
        caption_source="human",
        duration=clip_seconds,
        clip_start=clip_start,
        tags=tags,
        license=LICENSE,
        track_key=f"youtube:{ytid}",
        official_split=("test" if evaluation == "true" else "train") if evaluation else None,
    )
