"""Load each heavy model once per process and hand the same object to every track."""

from __future__ import annotations

import gc
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


class ModelUnavailable(RuntimeError):
    """Raised by a loader when a model's weights are not available (offline, not configured)."""


class DeviceUnavailable(ModelUnavailable):
    """The configured device cannot be used here: the model stages skip, the CPU-only ones go on."""


def apply_download_policy(allow_downloads: bool) -> None:
    """Unless downloads are allowed, make Hugging Face loaders (and Demucs' hub lookup) offline.

    Set before any loader runs: huggingface_hub reads HF_HUB_OFFLINE when it is imported, so an
    already imported module is told as well.
    """
    if allow_downloads:
        return
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None:
        constants.HF_HUB_OFFLINE = True


def resolve_device(spec: str = "auto") -> str:
    """Turn ``auto|cpu|cuda[:n]|mps`` into a device string torch accepts; DeviceUnavailable if it is not here."""
    import torch

    if spec == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if spec.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DeviceUnavailable(f"MELODEX_DEVICE={spec} but CUDA is not available on this machine (use auto or cpu)")
        index = int(spec.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise DeviceUnavailable(f"MELODEX_DEVICE={spec} but this machine has {torch.cuda.device_count()} CUDA device(s)")
    if spec == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise DeviceUnavailable("MELODEX_DEVICE=mps but Apple's MPS backend is not available on this machine")
    return spec


# glibc's M_MMAP_THRESHOLD: allocations above it get their own mapping, returned to the system on free.
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD_BYTES = 1 << 20


def bound_heap_growth() -> None:
    """Keep large short-lived buffers (convolution feature maps) out of the heap.

    glibc raises its mmap threshold as large blocks are freed, after which they come from the heap
    and fragment it: a two-hour MusiCNN analysis then creeps from ~0.7 GB to ~1.1 GB. A fixed 1 MiB
    threshold (what MALLOC_MMAP_THRESHOLD_ sets at start-up) keeps it flat. No-op off glibc.
    """
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES)
    except (OSError, AttributeError):
        pass


@dataclass
class ModelCache:
    """Process-wide cache of loaded models keyed by a caller-chosen string.

    The key must name everything that makes two models different (kind, id or path, device).
    """

    _models: dict[str, Any] = field(default_factory=dict)
    load_seconds: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, key: str, loader: Callable[[], T]) -> T:
        with self._lock:
            if key not in self._models:
                start = time.perf_counter()
                self._models[key] = loader()
                self.load_seconds[key] = time.perf_counter() - start
                log.info("loaded model %s in %.2fs", key, self.load_seconds[key])
            return self._models[key]

    def __contains__(self, key: str) -> bool:
        return key in self._models

    def clear(self) -> None:
        """Drop every model and give accelerator memory back."""
        with self._lock:
            self._models.clear()
            self.load_seconds.clear()
        gc.collect()
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:  # pragma: no cover - torch is a hard dependency
            pass


_PROCESS_CACHE = ModelCache()


def process_cache() -> ModelCache:
    """The cache shared by everything running in this process."""
    return _PROCESS_CACHE
