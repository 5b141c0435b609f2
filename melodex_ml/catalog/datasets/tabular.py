"""Row-by-row reading of dataset CSV/TSV files that survives broken rows.

pandas either fails the whole file on one bad row (C engine) or drops it silently without a line
number (``on_bad_lines``), so we use the ``csv`` module one row at a time: every row comes back
with its line number, and a bad row (wrong field count, broken quoting) comes back as a ``BadRow``
carrying its raw text. An unclosed quote would otherwise swallow the rest of the file into one
field, so after a bad row that spanned several physical lines, reading resumes on the line after
its first one: nothing after a broken row is lost.

Files are decoded as UTF-8 with surrogate escapes, so undecodable bytes survive into the fields and
are reported by the record that uses them instead of failing the file.
"""

from __future__ import annotations

import csv
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .records import CatalogError, DatasetUnavailable, Reason


@dataclass(frozen=True, slots=True)
class Row:
    line: int  # 1-based physical line where the row starts
    fields: list[str]
    raw: str


@dataclass(frozen=True, slots=True)
class BadRow:
    line: int
    raw: str
    problem: str


@dataclass
class Table:
    path: Path
    header: list[list[str]]  # one list per header line
    rows: Iterator[Row | BadRow]


class _Lines:
    """Physical lines of a file with push-back, remembering which lines the current row consumed."""

    def __init__(self, handle):
        self._handle = handle
        self._pending: deque[str] = deque()
        self.taken: list[str] = []

    def __iter__(self):
        return self

    def __next__(self) -> str:
        line = self._pending.popleft() if self._pending else next(self._handle)
        self.taken.append(line)
        return line

    def push_back(self, lines: list[str]) -> None:
        self._pending.extendleft(reversed(lines))


def _open(path: Path):
    return open(path, encoding="utf-8-sig", errors="surrogateescape", newline="")


def read_table(
    path: Path,
    *,
    delimiter: str = ",",
    quoted: bool = True,
    header_lines: int = 1,
    ragged: bool = False,
) -> Table:
    """Read a delimited file's header lines now and its data rows lazily (the file is opened again
    when ``rows`` is iterated, and closed when that ends).

    Rows must have as many fields as the first header line, or at least as many when ``ragged``
    (MTG-Jamendo spills tags into extra columns). Blank lines are skipped.
    """
    quoting = csv.QUOTE_MINIMAL if quoted else csv.QUOTE_NONE
    header: list[list[str]] = []
    with _open(path) as handle:
        lines = _Lines(handle)
        try:
            while len(header) < header_lines:
                header.append(next(csv.reader(lines, delimiter=delimiter, quoting=quoting, strict=True)))
        except StopIteration:
            pass
        except csv.Error as exc:
            raise DatasetUnavailable(Reason.UNREADABLE_METADATA, f"{path}: unreadable header: {exc}") from exc
        header_physical_lines = len(lines.taken)
    width = len(header[0]) if header else 0
    return Table(path, header, _rows(path, header_physical_lines, delimiter, quoting, width, ragged))


def _rows(path: Path, skip: int, delimiter: str, quoting: int, width: int, ragged: bool) -> Iterator[Row | BadRow]:
    with _open(path) as handle:
        lines = _Lines(handle)
        for _ in range(skip):
            next(lines, None)
        line_no = skip + 1
        while True:
            lines.taken = []
            try:
                # A fresh reader per row: after a csv.Error a reader's state is not trustworthy.
                fields = next(csv.reader(lines, delimiter=delimiter, quoting=quoting, strict=True))
                problem = None
            except StopIteration:
                return
            except csv.Error as exc:
                fields, problem = None, f"unparseable (quoting or field size): {exc}"
            taken = lines.taken
            if fields is not None and not fields:
                line_no += len(taken)
                continue
            if fields is not None and (len(fields) < width if ragged else len(fields) != width):
                expected = f"at least {width}" if ragged else str(width)
                problem = f"expected {expected} fields, found {len(fields)}"
            if problem is None:
                yield Row(line_no, fields, "".join(taken))
                line_no += len(taken)
                continue
            yield BadRow(line_no, taken[0] if taken else "", problem)
            # Re-read whatever the broken row swallowed after its first line.
            lines.push_back(taken[1:])
            line_no += 1


def column_index(table: Table, required: Iterable[str], dataset: str, header_line: int = 0) -> dict[str, int]:
    """Column positions by name from one header line; a file lacking a required column is unreadable."""
    names = [name.strip() for name in table.header[header_line]] if len(table.header) > header_line else []
    positions = {name: i for i, name in enumerate(names)}
    missing = [name for name in required if name not in positions]
    if missing:
        raise DatasetUnavailable(
            Reason.UNREADABLE_METADATA,
            f"{dataset}: {table.path} lacks column(s) {', '.join(missing)}; header is {names[:20]}",
        )
    return positions


def row_error(
    dataset: str, table: Table, row: Row | BadRow, reason: Reason | None = None, message: str | None = None
) -> CatalogError:
    """A ``CatalogError`` for a row of ``table``: the broken row itself, or a row a parser rejected."""
    if isinstance(row, BadRow):
        reason, message = Reason.MALFORMED_ROW, f"line {row.line}: {row.problem}"
    return CatalogError(
        dataset=dataset,
        item=f"{table.path.name}:{row.line}",
        reason=reason or Reason.MALFORMED_ROW,
        message=message or "",
        path=str(table.path),
        line=row.line,
        raw=row.raw,
    )


def metadata_file(root: Path, candidates: Iterable[str], dataset: str) -> Path:
    """The first existing metadata file among ``candidates`` (relative to ``root``)."""
    candidates = list(candidates)
    for name in candidates:
        if (root / name).is_file():
            return root / name
    raise DatasetUnavailable(Reason.MISSING_METADATA, f"{dataset}: none of {', '.join(candidates)} found under {root}")
