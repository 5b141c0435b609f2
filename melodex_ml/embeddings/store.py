"""Where stored audio embeddings live: one folder per encoder, one HDF5 file per scan batch.

Layout: ``MELODEX_HOME/embeddings/<encoder>/<batch_id>.h5`` (see :mod:`.hdf5` for the file), with
encoder names such as ``msd-musicnn`` or a transformer's name; ``embeddings/captions.h5`` holds
the catalog's caption embeddings. A track re-analysed in a newer batch is read from the newest file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from melodex_ml.embeddings.hdf5 import EmbeddingSet, read_embedding_files
from melodex_ml.settings import MelodexSettings


def encoder_folder_name(model_id: str) -> str:
    """A folder name for an encoder: its last path or hub-id component, safe on every file system."""
    tail = model_id.rstrip("/").rsplit("/", 1)[-1] or "encoder"
    return re.sub(r"[^A-Za-z0-9._-]+", "-", tail)


def encoder_dir(settings: MelodexSettings, encoder: str) -> Path:
    return settings.embeddings_dir / encoder


def stored_encoders(settings: MelodexSettings) -> list[str]:
    """Encoders with at least one batch file."""
    root = settings.embeddings_dir
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and any(p.glob("*.h5")))


def read_encoder_embeddings(
    settings: MelodexSettings, encoder: str, *, track_ids: Iterable[str] | None = None
) -> EmbeddingSet:
    """Every batch of ``encoder`` (batch ids sort by time: a track's newest vectors win), optionally
    restricted to ``track_ids``."""
    files = sorted(encoder_dir(settings, encoder).glob("*.h5"))
    if not files:
        raise FileNotFoundError(f"no {encoder} embeddings under {encoder_dir(settings, encoder)}")
    embeddings = read_embedding_files(files)
    return embeddings if track_ids is None else embeddings.subset(track_ids)
