"""`melodex predict PATH...`: the champion's genre predictions for files and folders, off the store."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from dagster_project.cli.errors import FAILED, USAGE
from dagster_project.cli.terminal import errors, fail, printable, warn
from melodex_ml.settings import MelodexSettings


def unwritable(target: str) -> str | None:
    """Why ``target`` cannot be written, checked before any work is done; None when it can."""
    path = Path(target)
    if path.is_dir():
        return f"{target} is a folder"
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        return f"the folder {folder} does not exist"
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        return f"{target} is not writable"
    return None


def predict(
    settings: MelodexSettings, paths: Sequence[str], *, fmt: str, output: str | None, plot: str | None,
    batch_size: int | None, num_workers: int | None,
) -> int:  # fmt: skip
    from melodex_ml.inference.adhoc import NoAudio, NoChampion, predict_paths
    from melodex_ml.inference.stream import PredictionFailure

    missing = [p for p in paths if not Path(p).exists()]
    if missing:
        fail(f"no such file or folder: {', '.join(missing)}")
        return USAGE
    for option, target in (("--output", output), ("--plot", plot)):
        problem = target and unwritable(target)
        if problem:
            fail(f"cannot write {option}: {problem}")
            return USAGE
    try:
        run = predict_paths(settings, paths, batch_size=batch_size, num_workers=num_workers)
    except NoAudio as exc:
        fail(str(exc))
        return FAILED
    except NoChampion as exc:
        fail(str(exc))
        return USAGE
    if plot and len(run.files) != 1:
        fail(f"--plot draws the timeline of one track; {len(run.files)} files were given")
        return USAGE
    started = time.perf_counter()
    kept, failed = [], 0
    champion = run.champion

    def predictions() -> Iterator:
        nonlocal failed
        for line in with_progress(run.lines, len(run.files)):
            if isinstance(line, PredictionFailure):
                failed += 1
                warn(f"cannot predict {line.path}: {line.error_type}: {' '.join(line.message.split())}")
                continue
            if plot:
                kept.append(line)
            yield line

    written = write(predictions(), fmt, output)
    errors.print(
        printable(f"{written} file(s) predicted by {champion.name} v{champion.version} ({champion.candidate}) on "
                  f"{run.device} in {time.perf_counter() - started:.1f} s" + (f"; {failed} failed" if failed else ""))
    )  # fmt: skip
    if plot and kept:
        from melodex_ml.inference.plot import save_timeline

        errors.print(printable(f"genre timeline: {save_timeline(kept[0], plot)}"))
    return FAILED if failed else 0


def write(predictions, fmt: str, output: str | None) -> int:
    """To stdout as lines come, or to ``output`` atomically (a crash leaves no half-written file)."""
    from melodex_ml.inference.adhoc import write_predictions
    from melodex_ml.store.files import atomic_path

    if output is None:
        return write_predictions(predictions, fmt, sys.stdout)
    with atomic_path(Path(output)) as tmp, tmp.open("w", encoding="utf-8", newline="") as handle:
        return write_predictions(predictions, fmt, handle)


def with_progress(lines: Iterator, total: int) -> Iterator:
    """A progress bar on stderr (files done of ``total``), gone when the work is."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("predict"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=errors, transient=True) as progress:
        task = progress.add_task("", total=total)
        for line in lines:
            progress.advance(task)
            yield line
