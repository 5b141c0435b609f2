"""What produces each stage's results, as a short string: the code version of its asset.

A result is only as current as the code and the weights that made it, so the version names both:
a new extractor version, or weights that appear where none were (``MELODEX_DEMUCS_REPO`` set,
an encoder copied into the Hugging Face cache), changes it. The orchestrator then marks the old
results stale, and runs a stage again for the batches it could not process before.

Computed when the Definitions are built, so only ``stat`` calls: no model is imported or opened.
"""

from __future__ import annotations

import os
from pathlib import Path

from melodex_ml.catalog.fingerprint import library_fingerprint
from melodex_ml.features.config import EXTRACTOR_VERSION
from melodex_ml.settings import MelodexSettings

STEMS_CODE = "stems-1"
MUSICNN_CODE = "musicnn-1"
ENCODER_CODE = "encoder-embeddings-1"
WAV2VEC2_CODE = "wav2vec2-classifier-1"


def folder_identity(folder: Path | None) -> str:
    """``none``, ``missing`` or a 12-character hash of the folder's file names, sizes and mtimes."""
    if folder is None:
        return "none"
    folder = Path(folder).expanduser()
    return library_fingerprint([folder])[:12] if folder.is_dir() else "missing"


def hf_cache_identity(model_id: str) -> str:
    """Identity of a Hugging Face id or local folder: the folder itself, else its hub-cache entry."""
    local = Path(model_id).expanduser()
    if local.is_dir():
        return folder_identity(local)
    hub = Path(os.environ.get("HF_HUB_CACHE") or Path(os.environ.get("HF_HOME", "~/.cache/huggingface")) / "hub")
    return folder_identity(hub.expanduser() / f"models--{model_id.replace('/', '--')}")


def torch_hub_identity() -> str:
    """Demucs without a local repo loads from torch hub's checkpoints folder (when cached)."""
    home = Path(os.environ.get("TORCH_HOME") or Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")) / "torch")
    return folder_identity(home.expanduser() / "hub" / "checkpoints")


def musicnn_identity() -> str:
    """The installed musicnn checkpoints (located without importing the package)."""
    import importlib.util

    spec = importlib.util.find_spec("musicnn")
    folders = list(spec.submodule_search_locations or []) if spec else []
    return folder_identity(Path(folders[0])) if folders else "missing"


def stage_code_versions(settings: MelodexSettings) -> dict[str, str]:
    """Code version per asset name."""
    demucs_weights = folder_identity(settings.demucs_repo) if settings.demucs_repo else torch_hub_identity()
    encoder = settings.audio_encoder
    return {
        "track_features": f"{EXTRACTOR_VERSION};segment={settings.segment_seconds:g}s;"
        f"heads={folder_identity(settings.essentia_models_dir)}",
        "track_stems": f"{STEMS_CODE};{settings.demucs_model}@{demucs_weights}",
        "track_embeddings": f"{MUSICNN_CODE};musicnn@{musicnn_identity()};segment={settings.segment_seconds:g}s",
        "track_encoder_embeddings": f"{ENCODER_CODE};{encoder}@{hf_cache_identity(encoder)};"
        f"{settings.audio_encoder_pooling};segment={settings.segment_seconds:g}s" if encoder else f"{ENCODER_CODE};no-encoder",
        "wav2vec2_classifier": f"{WAV2VEC2_CODE};{classifier}@{hf_cache_identity(classifier)}"
        if (classifier := settings.classifier_encoder) else f"{WAV2VEC2_CODE};no-encoder",
    }
