"""`melodex demo`, `run`, `scan` and `ui`: the commands that launch Dagster runs on the project's instance."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

from dagster_project.cli.errors import FAILED, USAGE
from dagster_project.cli.runs import log_level, report_run
from dagster_project.cli.terminal import console, fail, say, warn
from melodex_ml.settings import MelodexSettings


def with_roots(settings: MelodexSettings, paths: Sequence[str] | None) -> MelodexSettings:
    """``--root`` options replace the configured library roots for this command."""
    if not paths:
        return settings
    return settings.with_overrides(library_roots=[str(Path(p).expanduser().resolve()) for p in paths])


def demo(settings: MelodexSettings, *, library: str | None, tracks: int, seed: int, debug: bool = False) -> int:
    from melodex_ml.demo import generate_demo_library

    if settings.library_roots:
        # The roots are the whole library: scanning only the demo would retire every configured track.
        roots = os.pathsep.join(map(str, settings.library_roots))
        fail(
            f"MELODEX_LIBRARY_ROOTS is set ({roots}): the demo would retire those tracks in {settings.home_dir}. "
            "Unset it, or give the demo its own MELODEX_HOME."
        )
        return USAGE
    where = Path(library).expanduser().resolve() if library else settings.demo_library
    say(("Demo library ", "bold"), str(where))
    truth = generate_demo_library(where, n_tracks=tracks, seed=seed, with_defects=True)
    say(f"  {len(truth)} tracks with ground truth in {where / 'ground_truth.json'}")
    return run_pipeline(with_roots(settings, [str(where)]), launched_by="melodex demo", debug=debug)


def run(settings: MelodexSettings, *, roots: Sequence[str] | None, retrain: bool, debug: bool = False) -> int:
    return run_pipeline(with_roots(settings, roots), launched_by="melodex run", retrain=retrain, debug=debug)


def run_pipeline(settings: MelodexSettings, *, launched_by: str, retrain: bool = False, debug: bool = False) -> int:
    from dagster_project.definitions import build_definitions
    from dagster_project.instance import ensure_instance
    from dagster_project.orchestrate import materialize_pending

    device_problem = warn_if_device_unusable(settings)
    instance = ensure_instance(settings)
    summary = materialize_pending(
        build_definitions(settings), instance, settings, launched_by=launched_by, retrain=retrain,
        echo=say, console_log_level=log_level(debug),
    )
    if not summary.runs:
        say("nothing to do: the library and every result are up to date")
    code = 0
    if summary.runs:
        console.rule("Runs")
    for executed in summary.runs:
        say(("✓ " if executed.success else "✗ ", "green" if executed.success else "red"), executed.label)
        code = max(code, report_run(instance, executed.run_id, told=device_problem))
    from dagster_project.cli.queries import show_results

    show_results(settings)
    return code or (0 if summary.ok else FAILED)


def warn_if_device_unusable(settings: MelodexSettings) -> str | None:
    """One line when MELODEX_DEVICE names a device this machine lacks: the model stages will skip
    with that reason (see `melodex status`), the CPU-only stages run as usual. Returns the reason."""
    if settings.device in ("auto", "cpu"):
        return None  # always usable; no need to import torch to know it
    from melodex_ml.models.cache import DeviceUnavailable, resolve_device

    try:
        resolve_device(settings.device)
    except DeviceUnavailable as exc:
        warn(f"{exc}; the model stages (stems, embeddings, captions, training, predictions) are skipped, the others run")
        return str(exc)
    return None


def scan_definitions(settings: MelodexSettings):
    """Just what a scan runs -- the observed roots and `library_tracks` -- with the settings resource.

    The run records the same events as one launched from the whole code location (the same job,
    asset, step and partitions), without loading every stage's code first: building the complete
    Definitions takes seconds (each stage's code version inspects its extractor and weights).
    """
    import dagster as dg

    from dagster_project.jobs import library_scan_job
    from melodex_assets.catalog import library_roots, library_tracks

    return dg.Definitions(assets=[library_roots, library_tracks], jobs=[library_scan_job], resources={"settings": settings})


def scan(settings: MelodexSettings, *, roots: Sequence[str] | None, debug: bool = False) -> int:
    from dagster_project.instance import console_log, ensure_instance
    from dagster_project.orchestrate import run_tags

    settings = with_roots(settings, roots)
    instance = ensure_instance(settings)
    result = scan_definitions(settings).resolve_job_def("library_scan_job").execute_in_process(
        instance=instance, raise_on_error=False, run_config=console_log(log_level(debug)),
        tags=run_tags("melodex scan"),
    )
    code = report_run(instance, result.run_id, indent="")
    if result.success:
        return 0
    say(f"scan failed: run {result.run_id} (melodex status, or the run in the Dagster UI)")
    return code or FAILED


def ui(settings: MelodexSettings, *, port: int) -> int:
    from dagster_project.instance import ensure_instance

    ensure_instance(settings)
    # The interpreter running us has dagster installed, whether or not its bin folder is on PATH.
    # The code server reads the same MELODEX_* environment, so it builds the same settings.
    command = [sys.executable, "-m", "dagster", "dev", "-m", "dagster_project.definitions", "-p", str(port)]
    console.file.flush()
    os.execve(sys.executable, command, {**os.environ, "DAGSTER_HOME": str(settings.dagster_home)})
    return 0  # not reached
