"""Demucs source separation: the model is loaded once per process, stems are written as FLAC files.

Weights come from a local folder (``MELODEX_DEMUCS_REPO``, laid out as Demucs' ``--repo``
expects: ``<name>.yaml`` bags and ``<sig>[-<checksum>].th`` models) or, without one, from
Demucs' own Hugging Face / torch-hub caches. Nothing ever falls back to random weights.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from melodex_ml.bookkeeping import Failure
from melodex_ml.models.cache import ModelCache, ModelUnavailable, process_cache, resolve_device
from melodex_ml.settings import MelodexSettings
from melodex_ml.store import StorageError, atomic_path

log = logging.getLogger(__name__)

STAGE = "stems"
# 16-bit like the Demucs CLI: stems are for listening and re-analysis, not further mastering.
FLAC_SUBTYPE = "PCM_16"

AudioLoader = Callable[[Path], tuple[np.ndarray, int]]


def load_demucs(name: str, repo: Path | None = None, *, allow_downloads: bool = False) -> torch.nn.Module:
    """Load a pretrained Demucs model or bag, in eval mode, or raise ModelUnavailable."""
    from demucs import pretrained
    from demucs.repo import ModelLoadingError

    if repo is not None and not Path(repo).is_dir():
        # Demucs itself would call sys.exit here.
        raise ModelUnavailable(f"MELODEX_DEMUCS_REPO={repo} is not a folder. {_weights_hint(name)}")
    if repo is None and not allow_downloads and not _in_local_caches(name):
        # Demucs would otherwise fetch the weights through torch.hub, which no offline flag stops.
        raise ModelUnavailable(
            f"Demucs model {name!r} is in neither the Hugging Face nor the torch-hub cache and downloads are off "
            f"(MELODEX_ALLOW_DOWNLOADS). {_weights_hint(name)}"
        )
    try:
        model = pretrained.get_model(name, repo=None if repo is None else Path(repo))
    except (ModelLoadingError, OSError) as exc:  # OSError covers failed downloads when offline
        where = f"in {repo}" if repo is not None else "in the Hugging Face / torch-hub caches, and downloading failed"
        raise ModelUnavailable(f"Demucs model {name!r} not found {where} ({exc}). {_weights_hint(name)}") from exc
    return model.eval()


def _in_local_caches(name: str) -> bool:
    """Whether Demucs can load ``name`` without the network: its Hugging Face cache or torch-hub checkpoints."""
    try:
        from demucs.hf import get_hf_model

        get_hf_model(name)  # cache only while HF_HUB_OFFLINE is set (see apply_download_policy)
        return True
    except Exception:
        pass
    try:
        import yaml
        from demucs.pretrained import REMOTE_ROOT, _parse_remote_files

        bag = REMOTE_ROOT / f"{name}.yaml"
        signatures = yaml.safe_load(bag.read_text())["models"] if bag.exists() else [name]
        urls = _parse_remote_files(REMOTE_ROOT / "files.txt")
        checkpoints = Path(torch.hub.get_dir()) / "checkpoints"
        return all((checkpoints / urls[sig].rsplit("/", 1)[-1]).exists() for sig in signatures)
    except Exception:  # unknown name or a Demucs version without the remote list
        return False


def _weights_hint(name: str) -> str:
    """Tell the user which files to fetch, using the URLs Demucs itself knows for ``name``."""
    hint = (
        f"Put {name}.yaml and the .th files it lists in a folder and set MELODEX_DEMUCS_REPO to it "
        "(or run once online so Demucs caches the weights)."
    )
    try:
        import yaml
        from demucs.pretrained import REMOTE_ROOT, _parse_remote_files

        signatures = yaml.safe_load((REMOTE_ROOT / f"{name}.yaml").read_text())["models"]
        urls = _parse_remote_files(REMOTE_ROOT / "files.txt")
        files = [str(REMOTE_ROOT / f"{name}.yaml"), *(urls.get(sig, f"{sig}.th") for sig in signatures)]
    except Exception:  # unknown name or a Demucs version without the remote list: the generic hint stays
        return hint
    return f"{hint} Files: {', '.join(files)}"


class StemSeparator:
    """A Demucs model plus how to run it; :meth:`load` takes the model from the process cache."""

    def __init__(self, model: torch.nn.Module, device: str, *, shifts: int = 0, overlap: float = 0.25):
        self.model = model
        self.device = device
        # Demucs' random shift trick only pays off averaged over several shifts; 0 keeps re-runs identical.
        self.shifts = shifts
        self.overlap = overlap

    @classmethod
    def load(
        cls,
        settings: MelodexSettings,
        *,
        cache: ModelCache | None = None,
        device: str | None = None,
        shifts: int = 0,
        overlap: float = 0.25,
    ) -> StemSeparator:
        device = resolve_device(device or settings.device)
        name, repo = settings.demucs_model, settings.demucs_repo
        key = f"demucs:{name}:{repo.resolve() if repo else 'hub'}:{device}"
        model = (cache or process_cache()).get(
            key, lambda: load_demucs(name, repo, allow_downloads=settings.allow_downloads).to(device)
        )
        return cls(model, device, shifts=shifts, overlap=overlap)

    @property
    def sources(self) -> list[str]:
        return list(self.model.sources)

    @property
    def sample_rate(self) -> int:
        """Rate of the stems :meth:`separate` returns (the model's rate)."""
        return int(self.model.samplerate)

    def separate(self, samples: np.ndarray, sample_rate: int) -> dict[str, np.ndarray]:
        """Split ``samples`` (channels, n) or (n,) into stems of shape (model channels, m) at :attr:`sample_rate`."""
        from demucs.apply import apply_model

        wav = self._model_input(samples, sample_rate)
        # Same normalisation as demucs.api.Separator: the model was trained on standardised mixtures.
        reference = wav.mean(0)
        mean, std = reference.mean(), reference.std() + 1e-8
        with torch.no_grad():
            # split=True runs the model chunk by chunk (its training segment, with overlap), so
            # accelerator memory does not grow with the track; the full track stays on the CPU.
            out = apply_model(
                self.model,
                ((wav - mean) / std)[None],
                shifts=self.shifts,
                split=True,
                overlap=self.overlap,
                device=self.device,
            )[0]
        out = out * std + mean
        return {name: out[i].numpy() for i, name in enumerate(self.sources)}

    def _model_input(self, samples: np.ndarray, sample_rate: int) -> torch.Tensor:
        import torchaudio.functional as AF
        from demucs.audio import convert_audio_channels

        wav = torch.as_tensor(np.asarray(samples, dtype=np.float32))
        if wav.ndim == 1:
            wav = wav[None]
        if wav.ndim != 2 or wav.shape[1] == 0:
            raise ValueError(f"expected audio shaped (channels, samples), got {tuple(wav.shape)}")
        if not torch.isfinite(wav).all():
            raise ValueError("audio contains NaN or infinite samples")
        if sample_rate <= 0:
            raise ValueError(f"invalid sample rate {sample_rate}")
        # Mono is duplicated; extra channels beyond the model's are dropped (Demucs' own rule).
        wav = convert_audio_channels(wav, self.model.audio_channels)
        if sample_rate != self.sample_rate:
            wav = AF.resample(wav, int(sample_rate), self.sample_rate)
        return wav.contiguous()


def write_stems(track_id: str, stems: dict[str, np.ndarray], sample_rate: int, out_dir: Path) -> list[Path]:
    """Write ``out_dir/<track_id>/<stem>.flac`` for each stem, each atomically; re-running overwrites."""
    if not track_id or track_id in {".", ".."} or "/" in track_id or os.sep in track_id:
        raise ValueError(f"track id {track_id!r} cannot be used as a folder name")
    folder = Path(out_dir) / track_id
    return [_write_flac_atomically(folder / f"{stem}.flac", audio, sample_rate) for stem, audio in stems.items()]


def _write_flac_atomically(path: Path, audio: np.ndarray, sample_rate: int) -> Path:
    with atomic_path(path) as tmp:
        # soundfile wants (frames, channels); clip because integer FLAC cannot hold |x| > 1.
        sf.write(tmp, np.clip(np.atleast_2d(audio), -1.0, 1.0).T, sample_rate, format="FLAC", subtype=FLAC_SUBTYPE)
    return path


@dataclass
class StemBatchResult:
    written: dict[str, list[Path]] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)


def separate_tracks(
    separator: StemSeparator, tracks: Iterable[tuple[str, Path]], out_dir: Path, *, load: AudioLoader
) -> StemBatchResult:
    """Separate and write each ``(track_id, path)``; a track that fails becomes a Failure, the rest go on."""
    result = StemBatchResult()
    for track_id, path in tracks:
        try:
            samples, sample_rate = load(path)
            stems = separator.separate(samples, sample_rate)
            result.written[track_id] = write_stems(track_id, stems, separator.sample_rate, out_dir)
        except StorageError:
            raise  # a full disk or read-only home fails every track: stop instead of recording each
        except Exception as exc:
            log.warning("stems failed for %s (%s): %s", track_id, path, exc)
            result.failures.append(Failure.from_exception(STAGE, track_id, exc, path))
    return result
