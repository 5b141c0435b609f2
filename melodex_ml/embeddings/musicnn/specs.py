"""The MusiCNN models Melodex offers, by name, with their tag vocabularies (no torch needed to read them)."""

from __future__ import annotations

from dataclasses import dataclass

EMBEDDING_LAYER = "model/dense/BiasAdd"  # the TF node of the embedding (Essentia's name for it)

# The input every shipped model was trained on (frontend.py computes it; records.py times patches with it).
SAMPLE_RATE = 16_000
N_FFT = 512
HOP = 256
N_MELS = 96
PATCH_FRAMES = 187  # librosa.time_to_frames(3 s) + 1, as the extractor computes it


@dataclass(frozen=True)
class MusicnnModelSpec:
    name: str  # Melodex's name, as Essentia's model files are named (msd-musicnn-1.pb)
    checkpoint: str  # folder in the musicnn package
    dataset: str

    @property
    def labels(self) -> tuple[str, ...]:
        from musicnn import configuration  # constants only

        return tuple(configuration.MSD_LABELS if self.checkpoint.startswith("MSD") else configuration.MTT_LABELS)


MODELS: dict[str, MusicnnModelSpec] = {
    "msd-musicnn": MusicnnModelSpec("msd-musicnn", "MSD_musicnn", "Million Song Dataset (last.fm tags)"),
    "mtt-musicnn": MusicnnModelSpec("mtt-musicnn", "MTT_musicnn", "MagnaTagATune"),
}


def model_spec(name: str) -> MusicnnModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(f"unknown MusiCNN model {name!r}; choose one of {sorted(MODELS)}") from None
