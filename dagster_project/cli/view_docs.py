"""Why a view's column is NULL, read from the view's own documentation in the shipped SQL.

A view documented in its own file under ``sql/`` (``audio_features_view.sql``) opens with a
comment table of its fields, aligned in columns under a header line that starts with ``field``:

    --   field              source                                         Spotify's definition
    --   mode               1 = major, 0 = minor; NULL when no key was found  same
    --   energy, valence,   NULL: Spotify's are outputs of their own undisclosed models; ...
    --   liveness           ...

A row whose field cell is empty continues the row above, as does one after a field cell ending in
a comma (one entry for several fields). Cells are runs of words separated by single spaces, placed
in the column where they start; a long source cell may run on under the next header. A field's
NULL reason is its source text from the word NULL on. The SQL stays the one place it is written.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from melodex_ml.store.migrations import sql_root

_VIEW = re.compile(r"CREATE\s+(?:OR\s+REPLACE\s+)?VIEW\s+(\w+)", re.IGNORECASE)
_CELL = re.compile(r"\S+(?: \S+)*")


@dataclass
class _Entry:
    fields: list[str] = field(default_factory=list)
    source: list[str] = field(default_factory=list)
    open_list: bool = False  # the field cell ended with a comma: more fields follow


def parse_null_reasons(sql: str) -> dict[str, str]:
    """{field: reason} from the comment table at the top of one view's SQL file."""
    comments = [text[2:] for text in sql.splitlines() if text.startswith("--")]
    header_at = next((i for i, text in enumerate(comments) if text.split()[:2] == ["field", "source"]), None)
    if header_at is None:
        return {}
    header = comments[header_at]
    starts = [m.start() for m in _CELL.finditer(header)]
    if len(starts) < 2:
        return {}
    source_at = starts[1]
    definition_at = starts[2] if len(starts) > 2 else float("inf")
    entries: list[_Entry] = []
    for text in comments[header_at + 1 :]:
        if not text.strip():
            break  # the table ends at the first empty comment line
        cells = [(m.start(), m.group()) for m in _CELL.finditer(text)]
        names = " ".join(value for start, value in cells if start < source_at)
        if names and not (entries and entries[-1].open_list):
            entries.append(_Entry())
        if not entries:
            continue
        entry = entries[-1]
        if names:
            entry.fields.extend(name.strip() for name in names.split(",") if name.strip())
            entry.open_list = names.rstrip().endswith(",")
        # A cell starting under the third header is that column's; a long source cell that runs on
        # under it still starts in the source column.
        entry.source.extend(value for start, value in cells if source_at <= start < definition_at)
    reasons = {}
    for entry in entries:
        text = " ".join(entry.source)
        at = text.find("NULL")
        if at >= 0:
            for name in entry.fields:
                reasons[name] = text[at:]
    return reasons


@functools.cache
def documented_null_reasons() -> dict[str, dict[str, str]]:
    """{view: {column: reason}} for every view documented in its own file under the shipped ``sql/``."""
    found: dict[str, dict[str, str]] = {}
    for entry in sql_root().iterdir():
        if not entry.name.endswith(".sql"):
            continue
        sql = entry.read_text(encoding="utf-8")
        views = _VIEW.findall(sql)
        reasons = parse_null_reasons(sql)
        if len(views) == 1 and reasons:
            found[views[0].lower()] = reasons
    return found


def null_reasons_for(tables: set[str]) -> dict[str, str]:
    """Reasons of the documented views among ``tables`` (the names a query reads), by column."""
    reasons: dict[str, str] = {}
    for view, columns in documented_null_reasons().items():
        if view in {t.lower() for t in tables}:
            reasons.update({column: f"{view}: {reason}" for column, reason in columns.items()})
    return reasons
