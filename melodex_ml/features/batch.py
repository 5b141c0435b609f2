"""Analyse many files: in this process or in worker processes, one failure never failing the batch.

Each worker process builds one `FeatureExtractor` (heads loaded once) and is limited to
``cores / workers`` BLAS/OpenMP/TensorFlow threads, so parallel tracks do not oversubscribe the
machine. A file that kills its worker (a crash inside a decoder) is identified by re-running
the files that were in flight one at a time (unless it was the only one), and recorded as a
failure like any other.
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from melodex_ml.features.config import ExtractorConfig, default_threads
from melodex_ml.features.extract import FeatureExtractor
from melodex_ml.features.records import FeatureFailure, FeatureResult

log = logging.getLogger(__name__)

Outcome = FeatureResult | FeatureFailure
Item = tuple[str, Path]

_THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMBA_NUM_THREADS",
    "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS",
)
_worker_extractor: FeatureExtractor | None = None


@functools.cache
def shared_extractor(config: ExtractorConfig) -> FeatureExtractor:
    """The process's extractor for ``config``, built on first use (its heads come from process_cache()).

    Not itself kept in process_cache(): building it loads heads through that cache, whose lock
    is not re-entrant.
    """
    return FeatureExtractor(config)


def analyze_one(extractor: FeatureExtractor, track_id: str, path: Path | str) -> Outcome:
    try:
        return extractor.extract(path)
    except Exception as exc:  # recorded per track; the batch goes on
        log.warning("features failed for %s (%s): %s", track_id, path, exc)
        return FeatureFailure.from_exception(track_id, path, exc)


def extract_batch(
    items: Iterable[Item], extractor_config: ExtractorConfig, workers: int = 1
) -> Iterator[tuple[str, Outcome]]:
    """(track_id, FeatureResult | FeatureFailure) for every item; in input order when workers == 1,
    in completion order otherwise."""
    if workers <= 1:
        extractor = shared_extractor(extractor_config)
        for track_id, path in items:
            yield track_id, analyze_one(extractor, track_id, path)
        return
    yield from _parallel(items, extractor_config, workers)


def _init_worker(config: ExtractorConfig, threads: int) -> None:
    # TensorFlow reads these when it creates its thread pools (first graph load, below); the
    # BLAS/OpenMP pools numpy already started are resized by threadpoolctl.
    for name in _THREAD_VARIABLES:
        os.environ[name] = str(threads)
    from threadpoolctl import threadpool_limits

    threadpool_limits(threads)
    global _worker_extractor
    _worker_extractor = FeatureExtractor(config)


def _work(track_id: str, path: Path) -> Outcome:
    assert _worker_extractor is not None, "worker was not initialised"
    return analyze_one(_worker_extractor, track_id, path)


def _pool(config: ExtractorConfig, workers: int) -> ProcessPoolExecutor:
    threads = config.threads or default_threads(workers)
    # spawn, not fork: forking a process that already runs TensorFlow or BLAS threads can deadlock.
    context = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=(config, threads))


def _crashed(track_id: str, path: Path) -> FeatureFailure:
    message = f"{path}: the worker process died while analysing this file (crash in a decoder or model)"
    return FeatureFailure(track_id, str(path), "WorkerCrashed", message)


def _parallel(
    items: Iterable[Item], config: ExtractorConfig, workers: int, work: Callable[[str, Path], Outcome] = _work
) -> Iterator[tuple[str, Outcome]]:
    pending = iter(items)
    suspects: deque[Item] = deque()  # in flight when a worker died: re-run one at a time
    in_flight: dict[Future, Item] = {}
    pool: ProcessPoolExecutor | None = None  # started on demand: a crash on the last file starts none

    def running() -> ProcessPoolExecutor:
        nonlocal pool
        pool = pool or _pool(config, workers)
        return pool

    def discard() -> None:
        nonlocal pool
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        pool = None

    try:
        while True:
            while suspects:
                track_id, path = suspects.popleft()
                try:
                    yield track_id, running().submit(work, track_id, path).result()
                except BrokenProcessPool:
                    discard()
                    yield track_id, _crashed(track_id, path)
            while len(in_flight) < 2 * workers and (item := next(pending, None)) is not None:
                in_flight[running().submit(work, *item)] = item
            if not in_flight:
                return
            done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            broken = False
            for future in done:
                item = in_flight.pop(future)
                try:
                    yield item[0], future.result()
                except BrokenProcessPool:
                    broken = True
                    suspects.append(item)
            if broken:
                suspects.extend(in_flight.values())
                in_flight.clear()
                discard()
                if len(suspects) == 1:  # it was the only file in flight: no need to run it again
                    track_id, path = suspects.popleft()
                    yield track_id, _crashed(track_id, path)
    finally:
        discard()
