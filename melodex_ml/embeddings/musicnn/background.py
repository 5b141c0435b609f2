"""MusiCNN over a list of files in a second process, while the caller computes something else.

`melodex features` computes descriptors and MusiCNN tags for the same files. In one process the two run
one after the other, imports included: torch and the networks take about 2 s, librosa, scipy.signal and
essentia about 2.5 s, and on one short file those imports are most of the command. Started first, in a
process of its own, MusiCNN's whole share overlaps the descriptors on a machine with two cores.

The process is spawned, not forked: the caller may already hold threads (BLAS pools, a test runner's),
and a fork copies their locks in whatever state they are. Log records and warnings raised in the child
come back with the results and are re-emitted in the caller, so the caller's handlers (the CLI's escape
every line) see them as if the work had run in-process. Once its results are sent the child leaves at
once (``os._exit``): an interpreter holding torch takes most of a second to tear down, which the command
would otherwise wait for.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

from melodex_ml.settings import MelodexSettings

STAGE = "features"


@dataclass(frozen=True)
class _Shipped:
    """What the child sends back: results by path, then what it logged and warned."""

    results: dict[str, object]  # path -> MusicnnResult | Failure
    records: list[logging.LogRecord]
    warnings: list[tuple[str, type[Warning], str, int]]  # message, category, filename, line


class BackgroundTagging:
    """``BackgroundTagging(files, settings).results()``: MusiCNN (MSD and MTT) over ``files``, started at once."""

    def __init__(self, files: Sequence[Path | str], settings: MelodexSettings):
        self.files = [str(f) for f in files]
        context = multiprocessing.get_context("spawn")
        self._receive, send = context.Pipe(duplex=False)
        # daemon: a caller that stops early (an error, Ctrl-C) does not wait for the tags at exit.
        self._process = context.Process(
            target=_serve, args=(send, self.files, settings), name="melodex-musicnn", daemon=True
        )
        self._process.start()
        send.close()  # the child holds the only sending end: its death reads as EOF here

    def results(self) -> dict[str, object]:
        """path -> MusicnnResult, or the Failure of a file MusiCNN could not analyse. A child that dies
        (killed, out of memory) fails every file with the reason; an error raised in it is raised here."""
        try:
            status, payload = self._receive.recv()
        except EOFError:
            from melodex_ml.bookkeeping import Failure  # duckdb comes with it: only on this path

            self._process.join()
            message = f"the MusiCNN process ended without a result (exit code {self._process.exitcode})"
            return {f: Failure(STAGE, f, "TaggingProcessDied", message, f) for f in self.files}
        finally:
            self._receive.close()
        self._process.join()
        if status == "error":
            raise payload
        shipped: _Shipped = payload
        for record in shipped.records:
            logging.getLogger(record.name).handle(record)
        for message, category, filename, lineno in shipped.warnings:
            warnings.warn_explicit(message, category, filename, lineno)
        return shipped.results

    def __enter__(self) -> BackgroundTagging:
        return self

    def __exit__(self, *exc_info) -> None:
        if self._process.is_alive():  # left early: the tags are not wanted any more
            self._process.terminate()
            self._process.join()


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        # Formatted here: the arguments may not pickle; the traceback travels as text.
        record.msg, record.args = record.getMessage(), None
        if record.exc_info:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        self.records.append(record)


def _serve(send: Connection, files: Sequence[str], settings: MelodexSettings) -> None:
    try:
        message = ("ok", tag_files(files, settings))
    except Exception as exc:  # noqa: BLE001 -- raised again in the caller
        message = ("error", exc)
    try:
        send.send(message)
    except Exception as exc:  # noqa: BLE001 -- an exception that does not pickle still gets its text across
        send.send(("error", RuntimeError(f"MusiCNN failed: {type(exc).__name__}: {exc}")))
    send.close()
    os._exit(0)  # everything is sent; skip the interpreter's teardown


def tag_files(files: Sequence[str], settings: MelodexSettings) -> _Shipped:
    """Every file through the tagger, loaded once; what was logged and warned is kept for the caller."""
    from melodex_ml.embeddings.musicnn.tagger import MusicnnTagger

    # torch keeps its default of every core, though the descriptors run beside it: on a folder of songs
    # they finish first and MusiCNN then has the machine (4 four-minute files: 39.4 s; 57.8 s leaving the
    # descriptor worker's core alone; 41.9 s one after the other in one process).
    collect = _Collect()
    root = logging.getLogger()
    root.addHandler(collect)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("default")
            tagger = MusicnnTagger.from_settings(settings, batch_size=settings.musicnn_batch_size)
            batch = tagger.analyse_tracks([(f, Path(f)) for f in files], stage=STAGE)
    finally:
        root.removeHandler(collect)
    results = {r.key: r for r in batch.results} | {f.item: f for f in batch.failures}
    raised = [(str(w.message), w.category, w.filename, w.lineno) for w in caught]
    return _Shipped(results, collect.records, raised)
