"""Load Hugging Face weights from a local folder or the cache first; the hub only when online."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from melodex_ml.models.cache import ModelUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")


def load_offline_first(load: Callable[[str, bool], T], model_id: str, *, what: str, setting: str) -> T:
    """Call ``load(source, local_files_only)``: local folder, then HF cache, then (online only) the hub.

    Trying the cache with ``local_files_only=True`` first means a cached model never touches the
    network, even without ``HF_HUB_OFFLINE``; a miss becomes ModelUnavailable, never a crash.
    """
    from huggingface_hub import constants, is_offline_mode

    local = Path(model_id).expanduser()
    if local.is_dir():
        try:
            return load(str(local), True)
        except OSError as exc:
            raise ModelUnavailable(f"{what} folder {local} is incomplete: {exc}") from exc
    try:
        return load(model_id, True)
    except OSError as cache_miss:
        problem = cache_miss
    if not is_offline_mode():
        log.info("%s %s is not cached; downloading it from the Hugging Face hub", what, model_id)
        try:
            return load(model_id, False)
        except OSError as exc:
            problem = exc
    raise ModelUnavailable(
        f"{what} {model_id!r} is neither a local folder nor in the Hugging Face cache "
        f"({constants.HF_HUB_CACHE}) and cannot be downloaded here ({problem}). On a connected machine run "
        f"`hf download {model_id}` and copy the cache over, or set {setting} to a folder holding its files."
    ) from problem
