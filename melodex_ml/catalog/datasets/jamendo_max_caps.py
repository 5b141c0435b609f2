"""JamendoMaxCaps-style Hugging Face exports: Parquet shards or JSON lines with a caption column.

``*.parquet``, ``*.jsonl`` and ``*.json`` (JSON lines, as ``Dataset.to_json`` writes) anywhere under
the root are read in sorted order.

Column names differ between exports, so each file's columns are matched against common names
(or named explicitly). The audio is found from a path column (a plain string, or the ``path`` of
a Hugging Face ``Audio`` struct, read without loading its bytes) or, failing that, from the id:
a file whose stem is the id anywhere under the audio folder. Rows repeating an id with the same
audio add their captions as ``alt_captions``. Captions are model-written (``caption_source='model'``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .audio import audio_folder, audio_stem, duration_of, find_audio, index_audio
from .records import (
    CatalogError,
    CatalogRecord,
    DatasetUnavailable,
    Parsed,
    Reason,
    RecordInvalid,
    attempt,
    optional_text,
    parse_float,
    require_text,
    safe_text,
)

DATASET = "jamendo_max_caps"
CAPTION_COLUMNS = ("caption", "captions", "text", "description")
ID_COLUMNS = ("id", "track_id", "audio_id", "jamendo_id")
PATH_COLUMNS = ("audio_path", "path", "file_path", "file", "filename", "audio")
DURATION_COLUMNS = ("duration", "duration_s")
BATCH_ROWS = 8192


@dataclass(frozen=True)
class Columns:
    caption: str
    id: str | None
    path: str | None
    duration: str | None
    optional: tuple[str, ...]  # artist, title, license when present


@dataclass
class _Entry:
    file: Path  # where the id's first row is, for errors
    row: int
    id: str
    path: str | None
    duration: float | None
    captions: list[str]
    extra: dict[str, str | None] = field(default_factory=dict)


def parse(
    root: Path,
    *,
    audio_dir: Path | None = None,
    caption_column: str | None = None,
    id_column: str | None = None,
    path_column: str | None = None,
) -> Iterator[Parsed]:
    files = sorted(p for pattern in ("*.parquet", "*.jsonl", "*.json") for p in root.rglob(pattern) if p.is_file())
    if not files:
        raise DatasetUnavailable(Reason.MISSING_METADATA, f"{DATASET}: no .parquet or .jsonl files under {root}")
    explicit = (caption_column, id_column, path_column)
    entries: dict[str, _Entry] = {}
    for file in files:
        try:
            for number, row in _file_rows(file, explicit):
                if isinstance(row, CatalogError):
                    yield row
                    continue
                error = _add(entries, file, number, row)
                if error is not None:
                    yield error
        except Exception as exc:  # noqa: BLE001 - one unreadable shard must not sink the others
            yield CatalogError(
                DATASET, file.name, Reason.UNREADABLE_METADATA, f"{type(exc).__name__}: {exc}", path=str(file)
            )

    audio_root = audio_folder(root, audio_dir)
    by_stem: dict[str, str] | None = None
    for entry in entries.values():
        if entry.path is None and by_stem is None:
            by_stem = index_audio(audio_root)  # only when some row names no path
        yield attempt(
            _record,
            entry,
            root,
            audio_root,
            by_stem or {},
            dataset=DATASET,
            item=f"{DATASET}_{entry.id}",
            path=entry.file,
            line=entry.row,
        )


def _pick(names: list[str], candidates: tuple[str, ...], explicit: str | None) -> str | None:
    if explicit is not None:
        return explicit if explicit in names else None
    return next((c for c in candidates if c in names), None)


def _columns(names: list[str], explicit: tuple[str | None, str | None, str | None], file: Path) -> Columns:
    caption = _pick(names, CAPTION_COLUMNS, explicit[0])
    id_ = _pick(names, ID_COLUMNS, explicit[1])
    path = _pick(names, PATH_COLUMNS, explicit[2])
    if caption is None or (id_ is None and path is None):
        raise DatasetUnavailable(
            Reason.UNREADABLE_METADATA,
            f"{DATASET}: {file} needs a caption column and an id or audio path column; it has {names[:20]}",
        )
    optional = tuple(n for n in ("artist", "title", "license") if n in names)
    return Columns(caption, id_, path, _pick(names, DURATION_COLUMNS, None), optional)


def _file_rows(file: Path, explicit) -> Iterator[tuple[int, dict[str, Any] | CatalogError]]:
    """(row or line number, normalised row or the error it caused) for one export file."""
    if file.suffix == ".parquet":
        yield from _parquet_rows(file, explicit)
    else:
        yield from _jsonl_rows(file, explicit)


def _parquet_rows(file: Path, explicit) -> Iterator[tuple[int, dict[str, Any]]]:
    import pyarrow.parquet as pq

    shard = pq.ParquetFile(file)
    schema = shard.schema_arrow
    cols = _columns(schema.names, explicit, file)
    wanted = [c for c in (cols.caption, cols.id, cols.duration, *cols.optional) if c]
    if cols.path:
        # A Hugging Face Audio column is a struct of bytes and path: read the path only.
        is_struct = str(schema.field(cols.path).type).startswith("struct")
        wanted.append(f"{cols.path}.path" if is_struct else cols.path)
    number = 0
    for batch in shard.iter_batches(batch_size=BATCH_ROWS, columns=wanted):
        for row in batch.to_pylist():
            number += 1
            yield number, _normalise(row, cols)


def _jsonl_rows(file: Path, explicit) -> Iterator[tuple[int, dict[str, Any] | CatalogError]]:
    cols: Columns | None = None
    with open(file, encoding="utf-8", errors="surrogateescape") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                if not isinstance(row, dict):
                    raise ValueError(f"expected a JSON object, found {type(row).__name__}")
            except ValueError as exc:
                where = f"{file.name}:{number}"
                yield number, CatalogError(DATASET, where, Reason.MALFORMED_ROW, f"{exc}", str(file), number, line)
                continue
            cols = cols or _columns(list(row), explicit, file)
            yield number, _normalise(row, cols)


def _normalise(row: dict[str, Any], cols: Columns) -> dict[str, Any]:
    path = row.get(cols.path) if cols.path else None
    if isinstance(path, dict):
        path = path.get("path")
    return {
        "caption": row.get(cols.caption),
        "id": row.get(cols.id) if cols.id else None,
        "path": path,
        "duration": row.get(cols.duration) if cols.duration else None,
        **{name: row.get(name) for name in cols.optional},
    }


def _add(entries: dict[str, _Entry], file: Path, number: int, row: dict[str, Any]) -> CatalogError | None:
    """Start an entry for a new id, or add the captions of a repeated one."""
    where = f"{file.name}:{number}"
    try:
        path = optional_text(row["path"])
        raw_id = row["id"] if row["id"] is not None else (audio_stem(path) if path else None)
        id_ = require_text(raw_id, "id").strip()
        captions = row["caption"] if isinstance(row["caption"], list) else [row["caption"]]
        captions = [str(c) for c in captions if optional_text(c)]
        if not captions:
            raise RecordInvalid(Reason.MISSING_FIELD, "caption is empty")
        duration = None if row["duration"] is None else parse_float(row["duration"], "duration")
    except RecordInvalid as exc:
        raw = safe_text(json.dumps(row, default=str, ensure_ascii=False))
        return CatalogError(DATASET, where, exc.reason, exc.message, str(file), number, raw)
    entry = entries.get(id_)
    if entry is None:
        extra = {k: optional_text(row.get(k)) for k in ("artist", "title", "license")}
        entries[id_] = _Entry(file, number, id_, path, duration, captions, extra)
        return None
    if path is not None and entry.path is not None and path != entry.path:
        first = f"{entry.file.name}:{entry.row}"
        message = f"id {id_} already used by {first} for {entry.path}, here for {path}"
        return CatalogError(DATASET, where, Reason.DUPLICATE_ID, message, str(file), number)
    entry.captions.extend(c for c in captions if c not in entry.captions)
    return None


def _record(entry: _Entry, root: Path, audio_root: Path, by_stem: dict[str, str]) -> CatalogRecord:
    if entry.path is not None:
        candidates = [Path(entry.path)] if os.path.isabs(entry.path) else [audio_root / entry.path, root / entry.path]
    else:
        candidates = [by_stem[entry.id]] if entry.id in by_stem else []
    audio_path = find_audio(candidates, f"id {entry.id}")
    return CatalogRecord(
        id=f"{DATASET}_{entry.id}",
        dataset=DATASET,
        source_id=entry.id,
        audio_path=audio_path,
        caption=entry.captions[0],
        alt_captions=tuple(entry.captions[1:]),
        caption_source="model",
        duration=duration_of(audio_path, entry.duration),
        artist=entry.extra.get("artist"),
        title=entry.extra.get("title"),
        license=entry.extra.get("license"),
        track_key=f"jamendo:{entry.id}" if entry.id.isdigit() else f"{DATASET}:{entry.id}",
    )
