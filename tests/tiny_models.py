"""Tiny real models built inside the tests (no weights can be downloaded here)."""

from __future__ import annotations

from pathlib import Path

import torch
import yaml

DEMUCS_SOURCES = ["drums", "bass", "other", "vocals"]
ENCODER_RATE = 16000
ENCODER_HIDDEN = 32
ENCODER_LAYERS = 2


def tiny_htdemucs() -> torch.nn.Module:
    from demucs.htdemucs import HTDemucs

    torch.manual_seed(0)
    # segment=1 s so a few seconds of audio go through apply_model's split/overlap path.
    return HTDemucs(sources=DEMUCS_SOURCES, channels=4, depth=4, dconv_comp=2, t_layers=1, t_heads=1, segment=1)


def save_demucs_repo(repo: Path, model: torch.nn.Module, name: str = "tiny") -> Path:
    """``<name>.yaml`` (a bag, like htdemucs.yaml) + ``<sig>-<checksum>.th``, the layout of `demucs --repo`."""
    from demucs.states import get_state, save_with_checksum

    repo.mkdir(parents=True, exist_ok=True)
    args, kwargs = model._init_args_kwargs
    # serialize_model() would do this too but needs omegaconf (a training-only dependency).
    package = {"klass": type(model), "args": args, "kwargs": kwargs, "state": get_state(model, None)}
    save_with_checksum(package, repo / "tinysig.th")
    (repo / f"{name}.yaml").write_text(yaml.safe_dump({"models": ["tinysig"]}))
    return repo


def save_tiny_encoder(folder: Path, kind: str = "wav2vec2") -> Path:
    """A 2-layer wav2vec2 or HuBERT with its feature extractor, saved with save_pretrained."""
    from transformers import HubertConfig, HubertModel, Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model

    config_class, model_class = {"wav2vec2": (Wav2Vec2Config, Wav2Vec2Model), "hubert": (HubertConfig, HubertModel)}[
        kind
    ]
    config = config_class(
        hidden_size=ENCODER_HIDDEN,
        num_hidden_layers=ENCODER_LAYERS,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(16,) * 7,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        vocab_size=8,
    )
    torch.manual_seed(0)
    model_class(config).save_pretrained(folder)
    Wav2Vec2FeatureExtractor(sampling_rate=ENCODER_RATE, do_normalize=True, return_attention_mask=True).save_pretrained(
        folder
    )
    return folder
