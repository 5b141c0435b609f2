"""The MusiCNN network (Pons & Serra, "musicnn: pre-trained convolutional neural networks for music audio
tagging", ISMIR 2019 LBD) in PyTorch, layer for layer as ``musicnn/models.py`` 0.1.0 builds it in TensorFlow.

Input: log-mel patches ``(batch, 187 frames, 96 bands)``. Layout inside: ``(batch, channels, time, freq)``.

* input batch-norm: a single scalar mean/variance/scale/offset (TF normalises the size-1 channel axis);
* front-end on the normalised patch, every branch conv -> ReLU -> batch-norm -> max over frequency:
  two timbral convolutions (7x38 and 7x67, 204 filters; time padded by 3 on both sides, frequency
  'valid') and three temporal ones (128x1, 64x1, 32x1, 51 filters, TF 'same' padding in time: an even
  kernel puts its odd extra padding row at the END), concatenated to 561 channels;
* mid-end: three 7-frame, 64-filter convolutions across all channels (time padded 3|3), each conv ->
  ReLU -> batch-norm, the 2nd and 3rd with a residual connection; front-end and the three outputs are
  concatenated to 753 channels;
* back-end: max and mean over time, interleaved per channel (TF flattens ``(753, 2)``: max0, mean0, max1,
  ...), batch-norm, dense 200 -> **embedding** (the pre-activation, Essentia's ``model/dense/BiasAdd``),
  ReLU, batch-norm, dense 50 -> logits, sigmoid -> tags. Dropout is off at inference.

TensorFlow's batch-norm epsilon (1e-3) is used everywhere.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from melodex_ml.embeddings.musicnn.specs import N_MELS

BN_EPS = 1e-3  # tf.compat.v1.layers.batch_normalization's default; torch's default (1e-5) would differ
TIMBRAL_KERNELS = ((7, int(0.4 * N_MELS)), (7, int(0.7 * N_MELS)))  # (7, 38), (7, 67)
TIMBRAL_FILTERS = int(1.6 * 128)  # 204
TEMPORAL_KERNELS = (128, 64, 32)
TEMPORAL_FILTERS = int(1.6 * 32)  # 51
FRONTEND_CHANNELS = len(TIMBRAL_KERNELS) * TIMBRAL_FILTERS + len(TEMPORAL_KERNELS) * TEMPORAL_FILTERS  # 561
# Front-end feature maps before the max over bands take about 11 MB per patch (the 7x38 branch: 204 filters x
# 59 offsets x 187 frames); in inference the front end runs this many patches at a time, so a large batch
# costs no more memory than a few patches.
CPU_FRONTEND_CHUNK = 4  # 2-4 measured a little faster than 8 or 32 on the 2-core CPU (cache-sized maps)


class MusiCNNOutput(NamedTuple):
    embedding: torch.Tensor  # (batch, dense_units): pre-activation of the penultimate dense layer
    logits: torch.Tensor  # (batch, n_classes)
    tags: torch.Tensor  # (batch, n_classes): sigmoid(logits)


def _batch_norm_2d(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS)


def gamma_signs(bn: nn.BatchNorm2d) -> torch.Tensor:
    """+1 where the channel's batch-norm scale is >= 0, -1 where it is negative."""
    return torch.where(bn.weight >= 0, 1.0, -1.0)


def relu_bn_of_signed_max(signed_max: torch.Tensor, signs: torch.Tensor, bn: nn.BatchNorm2d) -> torch.Tensor:
    """``max over frequency of bn(relu(z))`` from ``max over frequency of signs * z`` (shape (B, C, T)).

    In inference batch-norm is a per-channel affine map with slope ``gamma / sqrt(var + eps)``; it and ReLU
    are monotone, so the maximum of the normalised map is the normalised maximum of ``z`` where gamma >= 0
    and the normalised minimum where gamma < 0. The callers get ``-min z = max(-z)`` for free by negating
    those channels' filters and biases (exact in floating point), so one max over the conv output, with no
    ReLU or batch-norm over all its elements, gives the number the layer-by-layer order gives.
    """
    extreme = signed_max * signs[None, :, None]
    return F.batch_norm(F.relu(extreme), bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)


class TimbralBlock(nn.Module):
    """Conv over (7 frames x k bands), 'valid' in frequency, then the max over the remaining bands."""

    def __init__(self, kernel: tuple[int, int], filters: int = TIMBRAL_FILTERS):
        super().__init__()
        self.time_pad = (kernel[0] - 1) // 2  # 7 -> 3 | 3, as the explicit tf.pad of the original
        self.conv = nn.Conv2d(1, filters, kernel)
        self.bn = _batch_norm_2d(filters)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 1, T, F) -> (B, filters, T)
        x = F.pad(x, (0, 0, self.time_pad, self.time_pad))
        if self.training:
            return self.bn(F.relu(self.conv(x))).amax(dim=3)
        # The same convolution as a 1-D one over time, with the kernel's bands as input channels and each
        # frequency offset as a batch item: CPU kernels run it about 1.5x faster than the 1-channel conv2d.
        batch, _, frames, _ = x.shape
        width = self.conv.kernel_size[1]
        bands = x[:, 0].unfold(2, width, 1).permute(0, 2, 3, 1)  # (B, offsets, width, frames)
        offsets = bands.shape[1]
        signs = gamma_signs(self.bn)
        weight = self.conv.weight[:, 0].permute(0, 2, 1) * signs[:, None, None]  # (filters, width, 7)
        z = F.conv1d(bands.reshape(batch * offsets, width, frames), weight, self.conv.bias * signs)
        return relu_bn_of_signed_max(z.view(batch, offsets, -1, z.shape[-1]).amax(dim=1), signs, self.bn)


class TemporalBlock(nn.Module):
    """Conv over (k frames x 1 band) with TF 'same' time padding, then the max over all bands."""

    def __init__(self, frames: int, filters: int = TEMPORAL_FILTERS):
        super().__init__()
        # TF 'same' (stride 1): total padding k - 1, the smaller half before, the larger after.
        self.pad_before = (frames - 1) // 2
        self.pad_after = frames - 1 - self.pad_before
        self.conv = nn.Conv2d(1, filters, (frames, 1))
        self.bn = _batch_norm_2d(filters)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 1, T, F) -> (B, filters, T)
        x = F.pad(x, (0, 0, self.pad_before, self.pad_after))
        if self.training:
            return self.bn(F.relu(self.conv(x))).amax(dim=3)
        signs = gamma_signs(self.bn)
        z = F.conv2d(x, self.conv.weight * signs[:, None, None, None], self.conv.bias * signs)
        return relu_bn_of_signed_max(z.amax(dim=3), signs, self.bn)


class MidendLayer(nn.Module):
    """TF's conv2d over (7 frames x all channels) of a (T, C, 1) map is a 1-D conv over time with C inputs."""

    def __init__(self, in_channels: int, filters: int):
        super().__init__()
        self.conv = nn.Conv1d(in_channels, filters, 7, padding=3)
        self.bn = nn.BatchNorm1d(filters, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T) -> (B, filters, T)
        return self.bn(F.relu(self.conv(x)))


class MusiCNN(nn.Module):
    def __init__(
        self,
        n_classes: int = 50,
        midend_filters: int = 64,
        dense_units: int = 200,
        frontend_chunk: int = CPU_FRONTEND_CHUNK,
    ):
        super().__init__()
        self.frontend_chunk = frontend_chunk
        self.input_bn = _batch_norm_2d(1)
        self.timbral = nn.ModuleList(TimbralBlock(k) for k in TIMBRAL_KERNELS)
        self.temporal = nn.ModuleList(TemporalBlock(k) for k in TEMPORAL_KERNELS)
        self.midend = nn.ModuleList(
            [
                MidendLayer(FRONTEND_CHANNELS, midend_filters),
                MidendLayer(midend_filters, midend_filters),
                MidendLayer(midend_filters, midend_filters),
            ]
        )
        pooled_channels = FRONTEND_CHANNELS + 3 * midend_filters  # 753
        self.pool_bn = nn.BatchNorm1d(2 * pooled_channels, eps=BN_EPS)
        self.dense = nn.Linear(2 * pooled_channels, dense_units)
        self.dense_bn = nn.BatchNorm1d(dense_units, eps=BN_EPS)
        self.classifier = nn.Linear(dense_units, n_classes)

    def forward(self, logmel: torch.Tensor) -> MusiCNNOutput:
        """``logmel``: (batch, frames, 96) log10(10000 * mel + 1) patches (frames = 187 for the shipped models)."""
        if logmel.ndim != 3 or logmel.shape[2] != N_MELS:
            raise ValueError(f"expected (batch, frames, {N_MELS}) log-mel patches, got {tuple(logmel.shape)}")
        x = self.input_bn(logmel.unsqueeze(1))  # (B, 1, T, F)
        chunks = [x] if self.training else x.split(self.frontend_chunk)
        front = torch.cat(  # (B, 561, T)
            [torch.cat([block(chunk) for block in (*self.timbral, *self.temporal)], dim=1) for chunk in chunks]
        )

        mid1 = self.midend[0](front)
        mid2 = self.midend[1](mid1) + mid1
        mid3 = self.midend[2](mid2) + mid2
        features = torch.cat([front, mid1, mid2, mid3], dim=1)  # (B, 753, T)

        pooled = torch.stack([features.amax(dim=2), features.mean(dim=2)], dim=2).flatten(1)  # max0, mean0, ...
        embedding = self.dense(self.pool_bn(pooled))
        logits = self.classifier(self.dense_bn(F.relu(embedding)))
        return MusiCNNOutput(embedding=embedding, logits=logits, tags=torch.sigmoid(logits))
