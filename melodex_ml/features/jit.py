"""numba's compiled code for librosa: cached in the state folder, so a command does not recompile it.

librosa's hot loops are numba functions. Compiled at every start they cost seconds per
command (`melodex features one.wav` spends longer compiling than analysing), so they are
cached on disk: in MELODEX_HOME/numba rather than beside librosa's sources, which may be
read-only (a system-wide install) or shared between users.

Every librosa function the extractor uses that numba compiles eagerly is compiled when
`librosa.beat` is imported (it pulls in librosa's core, util and onset modules). `prepare_librosa`
does that once per process, one process at a time: numba writes a gufunc's two cache files
separately, and worker processes compiling into a cold cache at once can pair files from
different processes, which crashes whoever loads them later (numba issue #10128).
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from types import ModuleType

from filelock import FileLock


def prepare_librosa(cache_dir: Path | None) -> None:
    """Import librosa's numba code, compiled into or loaded from ``cache_dir`` (None: numba's default)."""
    if cache_dir is None:
        librosa_beat()
        return
    use_jit_cache(cache_dir)
    folder = Path(os.environ["NUMBA_CACHE_DIR"])  # the caller's NUMBA_CACHE_DIR, if any, wins
    folder.mkdir(parents=True, exist_ok=True)
    with FileLock(folder / "compile.lock"):
        librosa_beat()


def use_jit_cache(folder: Path | None) -> None:
    """Let numba cache compiled functions in ``folder``; call before librosa's modules load.

    numba picks a function's cache location when the function is decorated, i.e. when librosa
    imports the module that defines it, so this must run before the first librosa call. The
    environment variable carries it to worker processes; an explicit NUMBA_CACHE_DIR wins.
    """
    if folder is None:
        return
    os.environ.setdefault("NUMBA_CACHE_DIR", str(folder))
    config = sys.modules.get("numba.core.config")  # an imported numba has read the variable already
    if config is not None and not config.CACHE_DIR:
        config.CACHE_DIR = os.environ["NUMBA_CACHE_DIR"]


@functools.cache
def librosa_beat() -> ModuleType:
    """`librosa.beat`, with every numba function in it cached.

    librosa 0.11 declares its beat tracker's local-score gufunc with ``cache=False`` (left from the
    prototype in librosa PR #1766; its other gufuncs say ``cache=True``), so importing the module
    compiled it afresh on every start: about 2.5 s of CPU, more than the rest of the command's
    JIT. Its decorator is applied while the module is imported, so for that import only numba's
    guvectorize caches by default. Already imported elsewhere, the module is returned as it is.
    """
    if "librosa.beat" in sys.modules:
        return sys.modules["librosa.beat"]
    import numba

    guvectorize = numba.guvectorize

    def cached_guvectorize(*args, **kwargs):
        kwargs["cache"] = True
        return guvectorize(*args, **kwargs)

    numba.guvectorize = cached_guvectorize
    try:
        import librosa.beat
    finally:
        numba.guvectorize = guvectorize
    return librosa.beat
