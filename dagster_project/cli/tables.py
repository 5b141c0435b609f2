"""Rows for people (a table that wraps, or one field per line) and for programs (CSV, JSON).

For people every value is shown whole: a table when the rows fit the terminal, else one field per
line (``vertical``); floats are rounded to ``SIGNIFICANT`` digits (integer digits are never cut);
NULL is shown as NULL, and a footer names the columns that are NULL in every row, with the reason
where the view documents one (view_docs.py). CSV and JSON are written straight to stdout, values
unrounded and without any rich rendering.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal

from rich import box
from rich.cells import cell_len
from rich.table import Table
from rich.text import Text

from dagster_project.cli.terminal import console, line, printable

SIGNIFICANT = 5
NULL = Text("NULL", style="dim")


@dataclass(frozen=True)
class Rows:
    columns: Sequence[str]
    rows: Sequence[Sequence[object]]
    title: str | None = None
    truncated: bool = False  # more rows exist than are shown (``--limit``)
    null_reasons: Mapping[str, str] = field(default_factory=dict)  # column -> documented reason


def format_float(value: float, significant: int = SIGNIFICANT) -> str:
    if not math.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    if magnitude < -4 or magnitude >= 16:
        return f"{value:.{significant - 1}e}"
    text = f"{value:.{max(0, significant - 1 - magnitude)}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def format_value(value: object) -> str:
    """A value as people read it: rounded floats, lists and structs without Python quoting."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return format_float(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return repr(bytes(value))[2:-1]
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {'NULL' if v is None else format_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join("NULL" if v is None else format_value(v) for v in value) + "]"
    if hasattr(value, "item") and hasattr(value, "dtype"):  # numpy scalars
        return format_value(value.item())
    return str(value)


def cell(value: object) -> Text:
    return NULL if value is None else Text(printable(format_value(value), newlines=False))


def print_rows(rows: Rows, *, fmt: str = "table", vertical: bool | None = None) -> None:
    """``fmt``: table | csv | json. ``vertical``: None chooses by width, True/False forces."""
    if fmt == "json":
        write_json(rows)
    elif fmt == "csv":
        write_csv(rows)
    else:
        print_for_people(rows, vertical=vertical)


def write_json(rows: Rows) -> None:
    records = [dict(zip(rows.columns, row, strict=True)) for row in rows.rows]
    sys.stdout.write(json.dumps(records, default=str, ensure_ascii=False, indent=2) + "\n")


def write_csv(rows: Rows) -> None:
    writer = csv.writer(sys.stdout)
    writer.writerow(rows.columns)
    writer.writerows(rows.rows)


def print_for_people(rows: Rows, *, vertical: bool | None = None) -> None:
    cells = [[cell(v) for v in row] for row in rows.rows]
    headers = [Text(printable(c, newlines=False), style="bold") for c in rows.columns]
    if vertical is None:
        vertical = natural_width(headers, cells) > console.width
    if vertical:
        print_vertical(rows.title, headers, cells)
    else:
        print_table(rows.title, headers, cells)
    for note in footer(rows):
        console.print(note)


def natural_width(headers: Sequence[Text], cells: Sequence[Sequence[Text]]) -> int:
    """Width of the table with every value on one line: borders and padding included."""
    widths = [max([cell_len(h.plain), *(cell_len(row[i].plain) for row in cells)]) for i, h in enumerate(headers)]
    return sum(widths) + 3 * len(widths) + 1


def print_table(title: str | None, headers: Sequence[Text], cells: Sequence[Sequence[Text]]) -> None:
    table = Table(title=printable(title) if title else None, box=box.SIMPLE_HEAD, show_edge=False, title_justify="left")
    for header in headers:
        # fold: a value longer than its share of the screen wraps instead of being cut with "…"
        table.add_column(header, overflow="fold")
    for row in cells:
        table.add_row(*row)
    console.print(table)


def print_vertical(title: str | None, headers: Sequence[Text], cells: Sequence[Sequence[Text]]) -> None:
    """One field per line, one block per row: wide rows stay readable on a narrow terminal."""
    if title:
        console.print(Text(printable(title), style="bold"))
    width = max((cell_len(h.plain) for h in headers), default=0)
    for number, row in enumerate(cells, 1):
        console.rule(f"row {number}", align="left", characters="─")
        grid = Table.grid(padding=(0, 1))
        grid.add_column(width=width, no_wrap=True)
        grid.add_column(overflow="fold")
        for header, value in zip(headers, row, strict=True):
            grid.add_row(header, value)
        console.print(grid)


def footer(rows: Rows) -> list[Text]:
    notes = []
    if not rows.rows:
        notes.append(Text("(no rows)", style="dim"))
    elif rows.truncated:
        notes.append(Text(f"(first {len(rows.rows)} rows shown; raise --limit for more)", style="dim"))
    if rows.rows:
        notes.extend(null_notes(rows))
    return notes


def all_null_columns(rows: Rows) -> list[str]:
    return [name for i, name in enumerate(rows.columns) if all(row[i] is None for row in rows.rows)]


def null_notes(rows: Rows) -> list[Text]:
    """'NULL in every row' lines: columns sharing a documented reason together, then the rest."""
    by_reason: dict[str, list[str]] = {}
    for name in all_null_columns(rows):
        by_reason.setdefault(rows.null_reasons.get(name, ""), []).append(name)
    notes = []
    for reason, names in sorted(by_reason.items(), key=lambda item: item[0] == ""):
        because = [(" -- ", "dim"), reason] if reason else []
        notes.append(line(("NULL in every row: ", "bold"), ", ".join(names), *because))
    return notes
