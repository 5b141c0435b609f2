"""The unified catalog record, the validation error, and the reasons a record can be rejected.

Every parser yields ``CatalogRecord | CatalogError``. A record validates itself on construction
(``RecordInvalid``), so no parser can emit a record the rest of the pipeline would choke on:
DuckDB, Arrow and JSON all need valid UTF-8, a positive duration and a caption.
"""

from __future__ import annotations

import ast
import json
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from typing import Any

import pyarrow as pa

SPLITS = ("train", "val", "test")
CAPTION_SOURCES = ("human", "model", "tags")
# Longest accepted text value. Real captions are a few hundred characters; anything this long is
# a broken row (a swallowed file, a binary blob), and text encoders truncate far earlier anyway.
MAX_TEXT_CHARS = 20_000
# How much of an offending raw row an error keeps; the file and line locate the rest.
MAX_RAW_CHARS = 2_000


class Reason(StrEnum):
    """Why a record or a whole dataset was rejected (the ``reason`` column of ``catalog_errors``)."""

    MISSING_ROOT = "missing_root"  # dataset folder not configured or not there: the whole dataset
    MISSING_METADATA = "missing_metadata"  # root exists, its metadata file does not
    UNREADABLE_METADATA = "unreadable_metadata"  # metadata file there but not parseable at all
    MALFORMED_ROW = "malformed_row"
    MISSING_FIELD = "missing_field"
    MISSING_AUDIO = "missing_audio"
    UNREADABLE_DURATION = "unreadable_duration"
    DUPLICATE_ID = "duplicate_id"
    INVALID_ENCODING = "invalid_encoding"  # bytes that are not UTF-8 in text or a file name


class RecordInvalid(ValueError):
    """One row or record cannot become a catalog record; the rest of the dataset goes on."""

    def __init__(self, reason: Reason, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


class DatasetUnavailable(RuntimeError):
    """A whole dataset cannot be read (no root, no metadata file); other datasets go on."""

    def __init__(self, reason: Reason, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


def safe_text(value: object) -> str:
    """Any value as valid UTF-8 text: undecodable bytes (surrogate escapes) become ``\\xNN``."""
    text = value if isinstance(value, str) else os.fsdecode(value) if isinstance(value, bytes) else str(value)
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def has_invalid_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def clip_raw(text: str) -> str:
    text = safe_text(text)
    if len(text) <= MAX_RAW_CHARS:
        return text
    return f"{text[:MAX_RAW_CHARS]}... [truncated, {len(text):,} characters in all]"


@dataclass(frozen=True, slots=True)
class CatalogRecord:
    """One audio clip with its text, in the same shape whatever dataset it came from.

    ``track_key`` names the recording and ``artist_key`` the artist across datasets (Song Describer,
    MTG-Jamendo and JamendoMaxCaps share Jamendo ids), so splits can keep both on one side.
    ``clip_start`` is where the described clip starts inside ``audio_path`` (MusicCaps full videos).
    """

    id: str
    dataset: str
    source_id: str
    audio_path: str
    caption: str
    duration: float
    caption_source: str = "human"
    alt_captions: tuple[str, ...] = ()
    artist: str | None = None
    title: str | None = None
    tags: tuple[str, ...] = ()
    genres: tuple[str, ...] = ()
    license: str | None = None
    clip_start: float = 0.0
    track_key: str = ""
    artist_key: str | None = None
    official_split: str | None = None
    split: str | None = None

    def __post_init__(self) -> None:
        for name in ("alt_captions", "tags", "genres"):
            _set(self, name, tuple(getattr(self, name)))
        if not self.track_key:
            _set(self, "track_key", f"{self.dataset}:{self.source_id}")
        if self.artist_key is None and self.artist and self.artist.strip():
            _set(self, "artist_key", artist_name_key(self.artist))
        self._validate()

    def _validate(self) -> None:
        for name in ("id", "dataset", "source_id", "audio_path", "caption"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise RecordInvalid(Reason.MISSING_FIELD, f"{name} is empty")
        if has_invalid_utf8(self.audio_path):
            # A file name in another encoding: DuckDB, Arrow and JSON cannot store it as text.
            raise RecordInvalid(
                Reason.INVALID_ENCODING, f"audio file name is not valid UTF-8: {safe_text(self.audio_path)}"
            )
        for name, value in self._texts():
            if has_invalid_utf8(value):
                raise RecordInvalid(
                    Reason.INVALID_ENCODING, f"{name} contains bytes that are not UTF-8: {safe_text(value)[:300]!r}"
                )
            if len(value) > MAX_TEXT_CHARS:
                raise RecordInvalid(
                    Reason.MALFORMED_ROW, f"{name} has {len(value):,} characters; the limit is {MAX_TEXT_CHARS:,}"
                )
        if not os.path.isabs(self.audio_path):
            raise RecordInvalid(Reason.MALFORMED_ROW, f"audio_path is not absolute: {self.audio_path!r}")
        if not (isinstance(self.duration, int | float) and math.isfinite(self.duration) and self.duration > 0):
            raise RecordInvalid(Reason.UNREADABLE_DURATION, f"duration must be positive seconds, got {self.duration!r}")
        if not (math.isfinite(self.clip_start) and self.clip_start >= 0):
            raise RecordInvalid(Reason.MALFORMED_ROW, f"clip_start must be >= 0 seconds, got {self.clip_start!r}")
        if self.caption_source not in CAPTION_SOURCES:
            raise ValueError(f"caption_source must be one of {CAPTION_SOURCES}, not {self.caption_source!r}")
        for name in ("split", "official_split"):
            if getattr(self, name) not in (None, *SPLITS):
                raise ValueError(f"{name} must be one of {SPLITS} or None, not {getattr(self, name)!r}")

    def _texts(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, str):
                yield f.name, value
            elif isinstance(value, tuple):
                yield from ((f"{f.name}[{i}]", v) for i, v in enumerate(value))

    def to_row(self) -> dict[str, Any]:
        """Plain dict with lists, for JSON, Arrow and DuckDB."""
        row = asdict(self)
        for name in ("alt_captions", "tags", "genres"):
            row[name] = list(row[name])
        return row

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> CatalogRecord:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in row.items() if k in known and v is not None})


def _set(obj: object, name: str, value: object) -> None:
    object.__setattr__(obj, name, value)  # frozen dataclasses normalise their fields this way


def artist_name_key(name: str) -> str:
    """Artist identity from a display name, shared across datasets: case and spacing do not matter."""
    return "name:" + " ".join(name.casefold().split())


_TEXT = pa.string()
CATALOG_SCHEMA = pa.schema(
    [
        ("id", _TEXT),
        ("dataset", _TEXT),
        ("source_id", _TEXT),
        ("audio_path", _TEXT),
        ("caption", _TEXT),
        ("duration", pa.float64()),
        ("caption_source", _TEXT),
        ("alt_captions", pa.list_(_TEXT)),
        ("artist", _TEXT),
        ("title", _TEXT),
        ("tags", pa.list_(_TEXT)),
        ("genres", pa.list_(_TEXT)),
        ("license", _TEXT),
        ("clip_start", pa.float64()),
        ("track_key", _TEXT),
        ("artist_key", _TEXT),
        ("official_split", _TEXT),
        ("split", _TEXT),
    ]
)
assert CATALOG_SCHEMA.names == [f.name for f in fields(CatalogRecord)], "schema and record drifted apart"


@dataclass(frozen=True, slots=True)
class CatalogError:
    """A row, record or dataset that did not make it into the catalog, and why.

    ``item`` is the record id when one could be formed, else ``<file>:<line>`` or the dataset name.
    ``raw`` keeps the offending row text (clipped) so nothing is silently lost.
    """

    dataset: str
    item: str
    reason: Reason
    message: str
    path: str | None = None
    line: int | None = None
    raw: str | None = None

    def __post_init__(self) -> None:
        # Errors are stored and printed, so their text must be valid UTF-8 even when the input was not.
        _set(self, "reason", Reason(self.reason))
        for name in ("dataset", "item", "message", "path"):
            value = getattr(self, name)
            if value is not None:
                _set(self, name, safe_text(value))
        if self.raw is not None:
            _set(self, "raw", clip_raw(self.raw))

    def to_row(self) -> dict[str, Any]:
        row = asdict(self)
        row["reason"] = str(self.reason)
        return row

    def to_failure_row(self) -> dict[str, Any]:
        """The same error as a row of the shared ``failures`` table (stage ``catalog``)."""
        return {
            "stage": "catalog",
            "item": self.item,
            "path": self.path,
            "error_type": str(self.reason),
            "message": f"{self.dataset}: {self.message}",
        }


Parsed = CatalogRecord | CatalogError


def attempt(
    build: Callable[..., CatalogRecord],
    *args: Any,
    dataset: str,
    item: str,
    path: object = None,
    line: int | None = None,
    raw: str | None = None,
) -> Parsed:
    """``build(*args)``, turning any failure into a ``CatalogError`` so one bad row never stops a dataset."""
    try:
        return build(*args)
    except RecordInvalid as exc:
        reason, message = exc.reason, exc.message
    except Exception as exc:  # noqa: BLE001 - a row we did not foresee still must not sink the batch
        reason, message = Reason.MALFORMED_ROW, f"{type(exc).__name__}: {exc}"
    return CatalogError(
        dataset=dataset,
        item=item,
        reason=reason,
        message=message,
        path=None if path is None else os.fspath(path),
        line=line,
        raw=raw,
    )


def parse_float(value: object, name: str) -> float:
    """A metadata number, or ``RecordInvalid(malformed_row)`` naming the field."""
    try:
        number = float(str(value).strip())
    except ValueError:
        raise RecordInvalid(Reason.MALFORMED_ROW, f"{name} is not a number: {safe_text(value)[:100]!r}") from None
    if not math.isfinite(number):
        raise RecordInvalid(Reason.MALFORMED_ROW, f"{name} is not a finite number: {value!r}")
    return number


def parse_int(value: object, name: str) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        raise RecordInvalid(Reason.MALFORMED_ROW, f"{name} is not an integer: {safe_text(value)[:100]!r}") from None


def literal_list(text: str, name: str) -> list:
    """A stringified Python list (how pandas dumps list columns) -> list; empty text -> []."""
    text = text.strip()
    if not text:
        return []
    try:
        value = json.loads(text)  # id lists are valid JSON and parse far faster than literal_eval
    except ValueError:
        value = None
    try:
        value = ast.literal_eval(text) if value is None else value
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise RecordInvalid(Reason.MALFORMED_ROW, f"{name} is not a list literal: {safe_text(text)[:100]!r}") from None
    if not isinstance(value, list | tuple):
        raise RecordInvalid(Reason.MALFORMED_ROW, f"{name} is not a list: {safe_text(text)[:100]!r}")
    return list(value)


def require_text(value: object, name: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or not str(value).strip():
        raise RecordInvalid(Reason.MISSING_FIELD, f"{name} is empty")
    return str(value)


def optional_text(value: object) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


@dataclass
class Deduplicator:
    """Keeps the first record for an id and turns later ones into ``duplicate_id`` errors."""

    seen: dict[str, str] = field(default_factory=dict)  # id -> where it was first seen

    def check(self, parsed: Parsed, where: str) -> Parsed:
        if isinstance(parsed, CatalogError):
            return parsed
        first = self.seen.get(parsed.id)
        if first is None:
            self.seen[parsed.id] = where
            return parsed
        return CatalogError(
            dataset=parsed.dataset,
            item=parsed.id,
            reason=Reason.DUPLICATE_ID,
            message=f"id {parsed.id} already taken by {first}; this one is from {where}",
            path=parsed.audio_path,
        )
