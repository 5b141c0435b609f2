"""`melodex similar` and `melodex search`: the library in the store, ranked (melodex_ml/search/library.py).

Both print the tracks found (``track_id, path, title, artist`` and the score) and one line saying
how the query was answered and how long the ranking took: above the table, or on stderr with
``--format json`` so that stdout stays one JSON document. A query that cannot be answered (no
store, no embeddings, an unknown track, an empty query) is one ``error:`` line
and exit code 2: something to fix first, as errors.py counts it.
"""

from __future__ import annotations

from collections.abc import Callable

from dagster_project.cli.errors import USAGE
from dagster_project.cli.tables import Rows, print_rows
from dagster_project.cli.terminal import console, errors, fail, line
from melodex_ml.settings import MelodexSettings

COLUMNS = ["track_id", "path", "title", "artist"]


def similar(settings: MelodexSettings, query: str, *, k: int, fmt: str) -> int:
    """The ``k`` live tracks nearest to a track id, a stored path, or any audio file."""
    from melodex_ml.search.library import similar_tracks

    return answered(lambda: similar_tracks(settings, query, k=k), "similarity", fmt)


def search(settings: MelodexSettings, query: str, *, k: int, fmt: str) -> int:
    """Tracks for a text query: the text-to-music projection or the zero-shot tag search."""
    if not query.strip():  # said before loading the text encoder
        fail('empty search query: give words to look for, e.g. melodex search "calm piano"')
        return USAGE
    from melodex_ml.search.library import search_text

    return answered(lambda: search_text(settings, query, k=k), "score", fmt)


def answered(ask: Callable, score: str, fmt: str) -> int:
    """Print what ``ask()`` found, or its SearchError as one line (exit code 2)."""
    from melodex_ml.search.library import SearchError

    try:
        answer = ask()
    except SearchError as exc:
        fail(str(exc))
        return USAGE
    show(answer, score, fmt=fmt)
    return 0


def show(answer, score: str, *, fmt: str) -> None:
    """The tracks as rows, and how they were found: on stderr for JSON, above the table otherwise."""
    about = line(
        ("answered by ", "dim"), answer.answered_by,
        ("  ", "dim"), (f"query {answer.query_seconds * 1000:.1f} ms, {len(answer.tracks)} tracks", "dim"),
    )  # fmt: skip
    (errors if fmt == "json" else console).print(about)
    rows = [[t.track_id, t.path, t.title, t.artist, t.score] for t in answer.tracks]
    print_rows(Rows([*COLUMNS, score], rows), fmt=fmt, vertical=False)
