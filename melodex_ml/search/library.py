"""Similar tracks and text search over the library in the store (what `melodex similar` and
`melodex search` run); the same as the documented SQL in sql/queries.sql.

Both read the live tracks' msd-musicnn track embeddings and tags from DuckDB. Text search is
answered by the trained text-to-music projection when the models stage found it retrieves better
than the zero-shot tag search on held-out tracks, else by the zero-shot search; the answer says which.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from melodex_ml.models.cache import ModelCache
from melodex_ml.settings import MelodexSettings
from melodex_ml.store import connect

MODEL = "msd-musicnn"


class SearchError(LookupError):
    """A query that cannot be answered (unknown track, empty store, no embeddings): one clear line."""


@dataclass(frozen=True)
class FoundTrack:
    track_id: str
    path: str
    title: str | None
    artist: str | None
    score: float  # cosine similarity, or the search score


@dataclass(frozen=True)
class Answer:
    tracks: list[FoundTrack]
    answered_by: str  # how: "cosine over msd-musicnn embeddings", "zero-shot tags: piano, ...", "projection v3"
    query_seconds: float  # the ranking itself, without loading the vectors or building the index


@dataclass(frozen=True)
class LibraryVectors:
    track_ids: list[str]
    vectors: np.ndarray  # (n, 200) float32
    meta: dict[str, tuple[str, str | None, str | None]]  # track id -> (path, title, artist)


def library_vectors(settings: MelodexSettings, model: str = MODEL) -> LibraryVectors:
    """The live tracks' track embeddings, in one Arrow read."""
    if not settings.duckdb_path.exists():
        raise SearchError(f"no feature store at {settings.duckdb_path}: run `melodex run` or `melodex demo` first")
    with connect(settings.duckdb_path, read_only=True) as con:
        # con.sql streams Arrow without the extra copy (and the warning) of a DB-API result
        table = con.sql(
            "SELECT e.track_id, e.embedding, t.path, t.title, t.artist FROM track_embeddings e "
            "JOIN live_tracks t USING (track_id) WHERE e.model = ? ORDER BY e.track_id",
            params=[model],
        ).to_arrow_table()
    if table.num_rows == 0:
        raise SearchError(f"no track has {model} embeddings yet: run `melodex run` (track_embeddings)")
    vectors = table.column("embedding").combine_chunks().flatten().to_numpy().reshape(table.num_rows, -1)
    ids = table.column("track_id").to_pylist()
    meta = dict(zip(ids, zip(*(table.column(c).to_pylist() for c in ("path", "title", "artist")), strict=True), strict=True))
    return LibraryVectors(ids, np.asarray(vectors, np.float32), meta)


def similar_tracks(
    settings: MelodexSettings, query: str, *, k: int = 10, cache: ModelCache | None = None
) -> Answer:
    """The ``k`` live tracks nearest to ``query`` (a track id, a stored path, or any audio file,
    analysed on the fly) by cosine over track embeddings, the query's own track excluded."""
    from melodex_ml.search.similarity import CosineIndex

    library = library_vectors(settings)
    row, vector = _query_vector(settings, query, library, cache)
    index = CosineIndex(library.vectors, library.track_ids)  # normalising the rows is loading, not the query
    started = time.perf_counter()
    neighbours = index.similar_to(row, k) if row is not None else index.search(vector, k)
    seconds = time.perf_counter() - started
    return Answer([_found(library, n.track_id, n.similarity) for n in neighbours],
                  f"cosine over {MODEL} track embeddings", seconds)  # fmt: skip


def _query_vector(settings, query: str, library: LibraryVectors, cache) -> tuple[int | None, np.ndarray | None]:
    if query in library.meta:
        return library.track_ids.index(query), None
    absolute = os.path.abspath(os.path.expanduser(query))
    by_path = {path: i for i, (path, _, _) in enumerate(library.meta[t] for t in library.track_ids)}
    if absolute in by_path:
        return by_path[absolute], None
    if Path(absolute).is_file():
        from melodex_ml.embeddings.musicnn.tagger import MusicnnTagger

        tagger = MusicnnTagger.from_settings(settings, cache=cache, models=(MODEL,))
        try:
            return None, tagger.analyse_file(absolute).outputs[MODEL].embedding
        except Exception as exc:  # the file is the user's: say why it cannot be analysed
            raise SearchError(f"cannot analyse {query}: {type(exc).__name__}: {exc}") from exc
    with connect(settings.duckdb_path, read_only=True) as con:
        known = con.execute("SELECT count(*) FROM live_tracks WHERE track_id = ? OR path = ?", [query, absolute]).fetchone()[0]
    if known:
        raise SearchError(f"{query} is in the library but has no {MODEL} embedding (its analysis failed: see `melodex status`)")
    raise SearchError(f"{query} is neither a track id, a path in the library, nor an audio file")


def _found(library: LibraryVectors, track_id: str, score: float) -> FoundTrack:
    path, title, artist = library.meta[track_id]
    return FoundTrack(track_id, path, title, artist, round(float(score), 6))


def search_text(settings: MelodexSettings, query: str, *, k: int = 10, cache: ModelCache | None = None) -> Answer:
    """Tracks for a text query: the projection when it beat zero-shot on held-out tracks, else zero-shot tags."""
    from melodex_ml.embeddings.text import TextEncoder

    if not query.strip():
        raise SearchError("empty search query")
    library = library_vectors(settings)
    text = TextEncoder.load(settings, cache=cache)
    projection = _projection_champion(settings)
    if projection is not None:
        from melodex_ml.models.projection import search

        model, version = projection
        started = time.perf_counter()
        ranked = search(model, text, query, library.vectors, library.track_ids, top_k=k)
        return Answer([_found(library, t, s) for t, s in ranked],
                      f"text-to-music projection v{version} (it beat zero-shot tags on held-out tracks)",
                      time.perf_counter() - started)  # fmt: skip
    return _zero_shot(settings, query, library, text, k)


def _projection_champion(settings: MelodexSettings):
    if not settings.mlflow_store_exists:
        return None
    from melodex_ml import experiments, tracking

    try:
        return experiments.load_projection(settings)
    except tracking.NoRegisteredModel:
        return None


def _zero_shot(settings, query, library: LibraryVectors, text, k: int) -> Answer:
    from melodex_ml.search.text_search import search
    from melodex_ml.search.vocabulary import TagVocabulary, musicnn_tag_sets

    tag_sets = musicnn_tag_sets()
    with connect(settings.duckdb_path, read_only=True) as con:
        rows = con.execute("SELECT track_id, model, label, probability FROM track_tags WHERE track_id IN "
                           "(SELECT UNNEST(?))", [library.track_ids]).fetchall()  # fmt: skip
        user = dict(con.execute(f'SELECT track_id, "{settings.label_field}" FROM live_tracks').fetchall())
    position = {t: i for i, t in enumerate(library.track_ids)}
    model_tags = {m: np.zeros((len(library.track_ids), len(labels)), np.float32) for m, labels in tag_sets.items()}
    columns = {m: {label: j for j, label in enumerate(labels)} for m, labels in tag_sets.items()}
    for track_id, model, label, probability in rows:
        model_tags[model][position[track_id], columns[model][label]] = probability
    user_tags = [_values(user.get(t)) for t in library.track_ids]
    vocabulary = TagVocabulary.build(text.encode, tag_sets, user_labels=sorted({v for vs in user_tags for v in vs}))
    matrix = vocabulary.track_matrix(model_tags, user_tags)
    started = time.perf_counter()
    matches, ranked = search(query, text.encode, vocabulary, matrix, k)
    seconds = time.perf_counter() - started
    if not matches:
        raise SearchError(f"'{query}' matches no tag name (MusiCNN's 100 tags or your {settings.label_field})")
    matched = ", ".join(f"{m.tag.label} ({m.tag.source})" for m in matches)
    return Answer([_found(library, library.track_ids[r.row], r.score) for r in ranked],
                  f"zero-shot tag search: {matched}", seconds)  # fmt: skip


def _values(value) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else [v for v in value if v]
