"""What the command line prints: user data shown as data, never as markup or terminal control.

Tags, paths, SQL results and error messages come from files and people, so

* rich never parses them as markup: both consoles have markup, emoji and highlighting off, and
  styled lines are built from ``Text`` pieces, so ``Intro [/b] (Live)`` prints as it is;
* control characters are shown escaped (``printable``): an ANSI escape in a tag prints as ``\\x1b``,
  a carriage return as ``\\r``, and a file name that is not UTF-8 as the bytes it has (``\\xe9``)
  instead of crashing the encoder.

Machine-readable output (``--format csv|json``) bypasses rich entirely (see tables.py).
"""

from __future__ import annotations

import os
import sys

from rich.console import Console
from rich.text import Text

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# Bidirectional overrides and isolates reorder what follows them on screen.
_BIDI = frozenset(range(0x202A, 0x202F)) | frozenset(range(0x2066, 0x206A))


def _make_console(stderr: bool) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    # Piped output is not wrapped at 80 columns: tables stay readable in logs and CI (COLUMNS wins).
    piped = not stream.isatty() and "COLUMNS" not in os.environ
    return Console(stderr=stderr, markup=False, emoji=False, highlight=False, width=160 if piped else None)


console = _make_console(stderr=False)
errors = _make_console(stderr=True)


def printable(value: object, *, newlines: bool = True) -> str:
    """``str(value)`` with control characters escaped; ``newlines`` keeps line breaks as they are."""
    text = value if isinstance(value, str) else str(value)
    if text.isprintable():
        return text
    out = []
    for char in text:
        code = ord(char)
        if char == "\n" and newlines:
            out.append(char)
        elif char in _NAMED:
            out.append(_NAMED[char])
        elif 0xDC80 <= code <= 0xDCFF:  # a byte of a non-UTF-8 file name (surrogateescape)
            out.append(f"\\x{code - 0xDC00:02x}")
        elif code < 0x20 or 0x7F <= code < 0xA0:
            out.append(f"\\x{code:02x}")
        elif code in _BIDI or 0xD800 <= code <= 0xDFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(char)
    return "".join(out)


def plain(value: object, style: str | None = None) -> Text:
    """A piece of user text, escaped, optionally styled as a whole."""
    return Text(printable(value), style=style or "")


def say(*parts: str | Text | tuple[str, str]) -> None:
    """Print one line made of parts: str (escaped), Text (as built), or (text, style)."""
    console.print(line(*parts))


def line(*parts: str | Text | tuple[str, str]) -> Text:
    text = Text()
    for part in parts:
        if isinstance(part, Text):
            text.append_text(part)
        elif isinstance(part, tuple):
            text.append(printable(part[0]), style=part[1])
        else:
            text.append(printable(part))
    return text


def warn(message: str) -> None:
    errors.print(line(("warning: ", "yellow"), message))


def fail(message: str) -> None:
    """One line on stderr: what went wrong, for people."""
    errors.print(line(("error: ", "red"), message))
