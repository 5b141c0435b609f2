"""The trained MusiCNN checkpoints that the ``musicnn`` 0.1.0 package ships, loaded into :class:`MusiCNN`.

The package (ISC licence, Music Technology Group, Universitat Pompeu Fabra; Jordi Pons and Xavier
Serra) is installed for its data files only: nothing here imports its modules except
``musicnn.configuration``, a file of constants (the tag lists) that needs no TensorFlow. Each model folder
holds a TensorFlow checkpoint whose prefix is the folder itself (``<dir>/.index``,
``<dir>/.data-00000-of-00001``); the ``checkpoint`` file next to them points into the author's home
and is ignored. The VGG baselines in the same package are a different network and are not ported.
"""

from __future__ import annotations

import hashlib
import importlib.resources
from functools import cache
from pathlib import Path

import numpy as np
import torch

from melodex_ml.embeddings.musicnn.checkpoint import Checkpoint
from melodex_ml.embeddings.musicnn.model import CPU_FRONTEND_CHUNK, MusiCNN
from melodex_ml.embeddings.musicnn.specs import model_spec
from melodex_ml.models.cache import ModelUnavailable


def checkpoint_dir(checkpoint: str) -> Path:
    """The installed folder of a musicnn checkpoint (``MSD_musicnn`` ...)."""
    try:
        root = importlib.resources.files("musicnn")
    except ModuleNotFoundError as exc:
        raise ModelUnavailable("the musicnn package (which ships the MusiCNN checkpoints) is not installed") from exc
    folder = Path(str(root)) / checkpoint
    if not (folder / ".index").is_file():
        raise ModelUnavailable(f"musicnn checkpoint {checkpoint} not found under {folder}")
    return folder


def checkpoint_prefix(name: str) -> str:
    return str(checkpoint_dir(model_spec(name).checkpoint)) + "/"


@cache
def checkpoint_sha256(name: str) -> str:
    """sha256 of the model's ``.data`` file (computed once per process): identifies the weights in outputs."""
    digest = hashlib.sha256()
    with open(checkpoint_dir(model_spec(name).checkpoint) / ".data-00000-of-00001", "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# TF variable scope -> torch module, in the order models.py creates the layers (TF numbers them so).
_LAYERS: dict[str, str] = {
    "batch_normalization": "input_bn",
    "conv2d": "timbral.0.conv",  # 7 x 38
    "batch_normalization_1": "timbral.0.bn",
    "conv2d_1": "timbral.1.conv",  # 7 x 67
    "batch_normalization_2": "timbral.1.bn",
    "conv2d_2": "temporal.0.conv",  # 128 x 1
    "batch_normalization_3": "temporal.0.bn",
    "conv2d_3": "temporal.1.conv",  # 64 x 1
    "batch_normalization_4": "temporal.1.bn",
    "conv2d_4": "temporal.2.conv",  # 32 x 1
    "batch_normalization_5": "temporal.2.bn",
    "conv2d_5": "midend.0.conv",
    "batch_normalization_6": "midend.0.bn",
    "conv2d_6": "midend.1.conv",
    "batch_normalization_7": "midend.1.bn",
    "conv2d_7": "midend.2.conv",
    "batch_normalization_8": "midend.2.bn",
    "batch_normalization_9": "pool_bn",
    "dense": "dense",
    "batch_normalization_10": "dense_bn",
    "dense_1": "classifier",
}
_BN_VARIABLES = {"gamma": "weight", "beta": "bias", "moving_mean": "running_mean", "moving_variance": "running_var"}


def _convert_kernel(scope: str, kernel: np.ndarray) -> np.ndarray:
    if scope.startswith("dense"):
        return kernel.T  # (in, out) -> (out, in)
    if _LAYERS[scope].startswith("midend"):
        return kernel[:, :, 0, :].transpose(2, 1, 0)  # (7, C, 1, out) -> Conv1d (out, C, 7)
    return kernel.transpose(3, 2, 0, 1)  # (kh, kw, in, out) -> Conv2d (out, in, kh, kw)


def state_dict_from_checkpoint(checkpoint: Checkpoint) -> dict[str, torch.Tensor]:
    """Every trained variable of a musicnn checkpoint under its torch name (Adam slots are skipped)."""
    state: dict[str, torch.Tensor] = {}
    for scope, module in _LAYERS.items():
        if scope.startswith("batch_normalization"):
            pairs = [(f"{scope}/{tf_name}", f"{module}.{torch_name}") for tf_name, torch_name in _BN_VARIABLES.items()]
        else:
            pairs = [(f"{scope}/kernel", f"{module}.weight"), (f"{scope}/bias", f"{module}.bias")]
        for tf_name, torch_name in pairs:
            array = checkpoint.read(tf_name)
            if tf_name.endswith("/kernel"):
                array = _convert_kernel(scope, array)
            state[torch_name] = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    return state


def load_musicnn(name: str, device: str = "cpu") -> MusiCNN:
    """The trained network ``name`` (``msd-musicnn`` / ``mtt-musicnn``) in eval mode on ``device``."""
    spec = model_spec(name)
    # A GPU has memory for the front end of a whole batch at once, and is faster that way.
    model = MusiCNN(n_classes=len(spec.labels), frontend_chunk=256 if device.startswith("cuda") else CPU_FRONTEND_CHUNK)
    state = state_dict_from_checkpoint(Checkpoint.open(checkpoint_prefix(name)))
    expected = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    for key, tensor in state.items():
        if tuple(tensor.shape) != tuple(expected[key].shape):
            raise ValueError(
                f"{name}: {key} has shape {tuple(tensor.shape)} in the checkpoint, "
                f"the network expects {tuple(expected[key].shape)}"
            )
    missing = sorted(set(expected) - set(state))
    if missing:
        raise ValueError(f"{name}: the checkpoint does not provide {missing}")
    model.load_state_dict(state, strict=False)  # strict would also demand num_batches_tracked, unused in eval
    return model.eval().to(device)
