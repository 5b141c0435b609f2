"""The PyTorch MusiCNN against the original TensorFlow musicnn 0.1.0 (reference data: scripts/musicnn_reference.py)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import librosa
import numpy as np
import pytest
import torch

from melodex_ml.embeddings.musicnn.checkpoint import Checkpoint
from melodex_ml.embeddings.musicnn.frontend import (
    EDGE_PAD,
    PATCH_FRAMES,
    LogMelSpectrogram,
    mel_filterbank,
)
from melodex_ml.embeddings.musicnn.model import TemporalBlock, TimbralBlock
from melodex_ml.embeddings.musicnn.patches import PatchWindower
from melodex_ml.embeddings.musicnn.tagger import MusicnnConfig, MusicnnTagger
from melodex_ml.embeddings.musicnn.weights import (
    checkpoint_prefix,
    load_musicnn,
    state_dict_from_checkpoint,
)

DATA = Path(__file__).parent / "data" / "musicnn"
REFERENCE = np.load(DATA / "reference.npz")
META = json.loads((DATA / "reference.json").read_text())
CHECKPOINTS = {"msd-musicnn": "MSD_musicnn", "mtt-musicnn": "MTT_musicnn"}


def _reference_script():
    script = DATA.parents[2] / "scripts" / "musicnn_reference.py"
    spec = importlib.util.spec_from_file_location("musicnn_reference", script)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", sorted(CHECKPOINTS))
def test_network_matches_tensorflow_given_the_same_spectrogram(name):
    model = load_musicnn(name)
    with torch.inference_mode():
        out = model(torch.from_numpy(REFERENCE["patches"]))
    checkpoint = CHECKPOINTS[name]
    np.testing.assert_allclose(out.tags.numpy(), REFERENCE[f"{checkpoint}/patch_tags"], atol=1e-4, rtol=0)
    np.testing.assert_allclose(out.embedding.numpy(), REFERENCE[f"{checkpoint}/patch_embeddings"], atol=1e-4, rtol=0)


def test_every_trained_variable_is_mapped_once():
    checkpoint = Checkpoint.open(checkpoint_prefix("msd-musicnn"))
    state = state_dict_from_checkpoint(checkpoint)
    trained = {n for n in checkpoint.entries if "Adam" not in n and n not in {"beta1_power", "beta2_power"}}
    assert len(state) == len(trained) == 64  # (8 convs + 2 dense) x (kernel, bias) + 11 batch-norms x 4


@pytest.mark.parametrize("block", [TimbralBlock((7, 38), filters=6), TemporalBlock(64, filters=6)])
def test_fused_inference_blocks_equal_the_layer_by_layer_order(block):
    """conv -> ReLU -> batch-norm -> max over bands, with scales of both signs (and zero)."""
    torch.manual_seed(0)
    with torch.no_grad():
        block.bn.weight.copy_(torch.tensor([1.5, -0.7, 0.0, 2.0, -3.0, 0.2]))
        block.bn.bias.normal_()
        block.bn.running_mean.normal_()
        block.bn.running_var.uniform_(0.1, 2.0)
    x = torch.randn(3, 1, 40, 96)
    block.eval()
    with torch.no_grad():
        pad = (0, 0, 3, 3) if isinstance(block, TimbralBlock) else (0, 0, block.pad_before, block.pad_after)
        expected = block.bn(torch.relu(block.conv(torch.nn.functional.pad(x, pad)))).amax(dim=3)
        got = block(x)
    assert got.shape == expected.shape == (3, 6, 40)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_tf_same_padding_puts_the_extra_row_after():
    # A (4 x 1) kernel that picks its last tap: TF 'same' pads 1 row before and 2 after, so output t sees
    # input t + 2, and the last two outputs see padding.
    block = TemporalBlock(4, filters=1).eval()
    with torch.no_grad():
        block.conv.weight.zero_()
        block.conv.weight[0, 0, 3, 0] = 1.0
        block.conv.bias.zero_()
    x = torch.arange(1.0, 9.0).view(1, 1, 8, 1)
    assert block(x)[0, 0].tolist() == pytest.approx([3, 4, 5, 6, 7, 8, 0, 0], abs=1e-2)  # bn eps: x / sqrt(1.001)


def test_mel_filters_are_librosas():
    expected = librosa.filters.mel(sr=16_000, n_fft=512, n_mels=96)
    np.testing.assert_allclose(mel_filterbank().numpy(), expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize("pad_mode", ["reflect", "constant"])
def test_streamed_patches_are_librosas_centred_log_mel(pad_mode):
    t = np.arange(16_000 * 9) / 16_000
    y = 0.3 * np.sin(2 * np.pi * 440 * t) * np.sin(2 * np.pi * 0.5 * t) + 0.01 * np.cos(2 * np.pi * 3000 * t**1.1)
    y = y.astype(np.float32)
    mel = librosa.feature.melspectrogram(y=y, sr=16_000, n_fft=512, hop_length=256, n_mels=96, pad_mode=pad_mode)
    expected = np.log10(10000 * mel.T + 1)  # float32, without the original's float16 cast
    windower = PatchWindower(pad_mode=pad_mode)
    windows = [w for chunk in np.array_split(y, 13) for w in windower.push(chunk)] + windower.finish()
    assert len(windows) == (expected.shape[0] - PATCH_FRAMES) // PATCH_FRAMES + 1 == 3
    logmel = LogMelSpectrogram()(torch.from_numpy(np.stack(windows))).numpy()
    for p, patch in enumerate(logmel):
        np.testing.assert_allclose(patch, expected[p * PATCH_FRAMES : (p + 1) * PATCH_FRAMES], atol=1e-4, rtol=0)
    assert EDGE_PAD == 256


@pytest.fixture(scope="module")
def taggers():
    return {mode: MusicnnTagger.load(config=MusicnnConfig(pad_mode=mode)) for mode in ("constant", "reflect")}


@pytest.mark.parametrize("pad_mode", ["constant", "reflect"])
def test_from_audio_the_tags_follow_the_tensorflow_pipeline(taggers, pad_mode):
    """The unmodified original extractor (librosa 0.10 load + soxr resampling, float16 cast, TF graph) on the
    same clips; 'constant' is that librosa's padding, 'reflect' the one musicnn was trained with."""
    assert [c["name"] for c in META["clips"]] == ["piano", "drums", "pad"]
    for clip in _reference_script().reference_clips():
        result = taggers[pad_mode].analyse(clip.samples, clip.sample_rate, key=clip.name)
        for name, checkpoint in CHECKPOINTS.items():
            taggram = REFERENCE[f"{checkpoint}/{clip.name}/taggram"]
            assert result.n_patches == len(taggram) == 3
            ours = result.outputs[name]
            assert np.corrcoef(ours.tags, taggram.mean(axis=0))[0, 1] >= 0.99
            # Same padding: only the float16 rounding of the original separates the two; reflect padding
            # changes the first frame of the first patch.
            assert np.abs(ours.tags - taggram.mean(axis=0)).max() < (1e-4 if pad_mode == "constant" else 1e-2)
            tf_embedding = REFERENCE[f"{checkpoint}/{clip.name}/embeddings"].mean(axis=0)
            assert np.corrcoef(ours.embedding, tf_embedding)[0, 1] >= 0.99


def test_the_network_runs_under_reduced_precision_autocast():
    """The CUDA path autocasts the network to fp16/bf16; CPU bf16 autocast exercises the same mixed dtypes."""
    model = load_musicnn("mtt-musicnn")
    patches = torch.from_numpy(REFERENCE["patches"][:2])
    with torch.inference_mode():
        full = model(patches)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            reduced = model(patches)
    assert torch.isfinite(reduced.tags.float()).all() and torch.isfinite(reduced.embedding.float()).all()
    for a, b in zip(full.tags, reduced.tags.float(), strict=True):
        assert np.corrcoef(a.numpy(), b.numpy())[0, 1] > 0.95
