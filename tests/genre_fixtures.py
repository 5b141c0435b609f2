"""A labelled library built in the test: genres as Gaussian blobs, artists, segments per track."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from melodex_ml.training.inputs import SegmentVectors
from melodex_ml.training.labels import LabelConfig, Taxonomy, build_taxonomy

GENRES = ("Ambient", "Jazz", "Rock", "Techno")


@dataclass(frozen=True)
class BlobLibrary:
    tags: dict[str, list[str]]
    artists: dict[str, str]
    vectors: SegmentVectors
    truth: dict[str, str]  # track -> genre, also for the tracks left untagged


def blob_library(
    *,
    separation: float = 6.0,
    dim: int = 8,
    artists_per_genre: int = 3,
    tracks_per_artist: int = 2,
    segments_per_track: int = 3,
    untagged_every: int = 0,
    seed: int = 0,
    genres: tuple[str, ...] = GENRES,
) -> BlobLibrary:
    """Each genre is a blob in ``dim`` dimensions; every ``untagged_every``-th track has no tag."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(genres), dim)) * separation
    tags, artists, truth, rows, row_tracks = {}, {}, {}, [], []
    n = 0
    for g, genre in enumerate(genres):
        for a in range(artists_per_genre):
            for t in range(tracks_per_artist):
                track_id = f"{genre.lower()}-{a}-{t}"
                truth[track_id] = genre
                artists[track_id] = f"{genre} Artist {a}"
                n += 1
                tags[track_id] = [] if untagged_every and n % untagged_every == 0 else [genre]
                for _ in range(segments_per_track):
                    rows.append(centres[g] + rng.normal(size=dim))
                    row_tracks.append(track_id)
    vectors = SegmentVectors(np.asarray(rows, np.float32), np.asarray(row_tracks), "embedding:blobs")
    return BlobLibrary(tags, artists, vectors, truth)


def taxonomy_of(library: BlobLibrary, config: LabelConfig = LabelConfig()) -> Taxonomy:
    return build_taxonomy(library.tags, library.artists, config, with_inputs=library.vectors.tracks())
