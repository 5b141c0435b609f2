"""MusiCNN's input representation: log-compressed mel spectrogram of 16 kHz mono audio, as musicnn 0.1.0
computes it with librosa (``extractor.batch_data``), in torch so that it runs batched on the model's device.

* ``librosa.feature.melspectrogram`` defaults: periodic Hann window, n_fft 512, hop 256, power 2, 96 Slaney
  mel bands (Slaney scale and area normalisation, 0 to 8 kHz), centred frames: frame ``t`` covers samples
  ``[256 t - 256, 256 t + 256)`` of the signal padded by 256 samples at both ends, so ``1 + n // 256``
  frames. Pad mode: librosa < 0.9 (0.6/0.7 is what musicnn was trained and published with) reflected the
  signal, librosa >= 0.9 pads zeros; see :data:`PadMode`. It changes the first frame of a file only.
* ``log10(10000 * mel + 1)`` in float32. The original casts the mel spectrogram to float16 first; that
  only rounds it under numpy 1.x, and under numpy >= 2 ``10000 * float16`` overflows to inf, so the cast is
  not reproduced (the difference is below the float16 rounding, about 2e-4 in log units).

The model sees 187-frame patches. A patch is computed from one window of padded audio
(:data:`WINDOW_SAMPLES` = 48128 samples) with no further padding, which is what lets patches stream.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from melodex_ml.embeddings.musicnn.specs import HOP, N_FFT, N_MELS, PATCH_FRAMES, SAMPLE_RATE

WINDOW_SAMPLES = (PATCH_FRAMES - 1) * HOP + N_FFT  # padded audio behind one patch: 48128
EDGE_PAD = N_FFT // 2
PadMode = Literal["reflect", "constant"]  # librosa < 0.9 (training, musicnn 0.1.0) | librosa >= 0.9


def mel_filterbank() -> torch.Tensor:
    """(96, 257) float32 Slaney mel filters (Slaney scale, area-normalised), as librosa.filters.mel's defaults.

    torchaudio builds the same filters (within float32 rounding; the tests compare them with librosa's)
    without importing librosa and scipy.signal, which take seconds to import.
    """
    import torchaudio.functional as AF

    fbanks = AF.melscale_fbanks(
        N_FFT // 2 + 1, 0.0, SAMPLE_RATE / 2, N_MELS, SAMPLE_RATE, norm="slaney", mel_scale="slaney"
    )
    return fbanks.T.contiguous().float()


def log_compress(mel: torch.Tensor) -> torch.Tensor:
    return torch.log10(10000.0 * mel + 1.0)


class LogMelSpectrogram(nn.Module):
    """Windows of already edge-padded 16 kHz audio ``(batch, samples)`` -> ``(batch, frames, 96)`` log-mel."""

    def __init__(self):
        super().__init__()
        self.register_buffer("window", torch.hann_window(N_FFT, periodic=True), persistent=False)
        self.register_buffer("mel_basis", mel_filterbank(), persistent=False)

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        if windows.ndim != 2 or windows.shape[1] < N_FFT:
            raise ValueError(f"expected (batch, >= {N_FFT} samples), got {tuple(windows.shape)}")
        # float32 throughout: callers run this outside any autocast region.
        spectrum = torch.stft(
            windows.float(), N_FFT, HOP, window=self.window, center=False, return_complex=True
        )  # (B, 257, frames)
        power = torch.view_as_real(spectrum).square().sum(-1)
        mel = torch.matmul(self.mel_basis, power)  # (B, 96, frames)
        return log_compress(mel).transpose(1, 2)
