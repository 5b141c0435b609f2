"""`melodex run`: evaluate the assets' automation conditions in-process and execute what they request.

This module makes no decision of its own: what runs, and when, is the AutomationCondition of each
asset (melodex_assets/automation.py), evaluated with Dagster's own evaluator against the instance
under MELODEX_HOME, exactly as the daemon's automation sensor does under `melodex ui`. Each tick's
requests are executed as runs (one per scan batch, unpartitioned assets first), then the conditions
are evaluated again, until nothing is requested. The evaluation cursor is kept in the instance, so
consecutive `melodex run`s continue one history, as the daemon's ticks do.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import dagster as dg
from dagster._core.definitions.asset_daemon_cursor import AssetDaemonCursor
from dagster._core.storage.tags import PARENT_RUN_ID_TAG, PARTITION_NAME_TAG, RETRY_NUMBER_TAG, ROOT_RUN_ID_TAG
from dagster._serdes import deserialize_value, serialize_value

from dagster_project.instance import RUN_RETRIES, console_log
from melodex_assets.catalog import DATA_VERSION_TAG, library_observation
from melodex_assets.models import champion_catch_up
from melodex_ml.settings import MelodexSettings
from melodex_ml.store.owners import Owner
from melodex_ml.store.recovery import recover_interrupted

CURSOR_KEY = "melodex/automation_cursor"
# Each tick requests what became ready; a library goes scan -> catalog and batches -> training ->
# predictions in about five. The cap only guards against a condition that never settles.
MAX_TICKS = 30
LAUNCHED_BY = "melodex/launched_by"
PID_TAG, HOST_TAG = "melodex/pid", "melodex/host"


@dataclass(frozen=True)
class ExecutedRun:
    partition: str | None
    assets: tuple[str, ...]  # requested
    run_id: str
    success: bool
    materialized: tuple[str, ...] = ()  # a skipped stage is requested but not materialized

    @property
    def label(self) -> str:
        where = f"batch {self.partition}" if self.partition else "library"
        return f"{where}: {', '.join(self.assets)}"


@dataclass
class RunSummary:
    runs: list[ExecutedRun] = field(default_factory=list)
    ticks: int = 0

    @property
    def ok(self) -> bool:
        return all(run.success for run in self.runs)

    @property
    def failed(self) -> list[ExecutedRun]:
        return [run for run in self.runs if not run.success]

    def materialized(self, asset: str) -> list[str | None]:
        """Partitions (None: unpartitioned) of ``asset`` materialized by the runs of this summary."""
        return [run.partition for run in self.runs if asset in run.materialized]


def load_cursor(instance: dg.DagsterInstance) -> AssetDaemonCursor | None:
    stored = instance.run_storage.get_cursor_values({CURSOR_KEY}).get(CURSOR_KEY)
    return deserialize_value(stored, AssetDaemonCursor) if stored else None


def save_cursor(instance: dg.DagsterInstance, cursor: AssetDaemonCursor) -> None:
    instance.run_storage.set_cursor_values({CURSOR_KEY: serialize_value(cursor)})


def requests_by_partition(result: dg.EvaluateAutomationConditionsResult, defs: dg.Definitions) -> list[tuple[str | None, list[dg.AssetKey]]]:
    """What one evaluation requested, as runs: unpartitioned assets first, then one run per batch."""
    by_partition: dict[str | None, list[dg.AssetKey]] = defaultdict(list)
    for spec in defs.resolve_all_asset_specs():
        for partition in result.get_requested_partitions(spec.key):
            by_partition[partition].append(spec.key)
    return sorted(by_partition.items(), key=lambda item: (item[0] is not None, item[0] or ""))


def run_tags(launched_by: str) -> dict[str, str]:
    # pid and host let a later start tell a run whose process died from one still going.
    owner = Owner.current()
    return {LAUNCHED_BY: launched_by, PID_TAG: str(owner.pid), HOST_TAG: owner.host}


def fail_dead_runs(instance: dg.DagsterInstance) -> list[dg.DagsterRun]:
    """In-process runs whose process was killed stay STARTED forever (no daemon watches them):
    mark those of this host whose process is gone as failed."""
    alive = [dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.NOT_STARTED]
    failed: list[dg.DagsterRun] = []
    for record in instance.get_run_records(dg.RunsFilter(statuses=alive)):
        run = record.dagster_run
        pid, host = run.tags.get(PID_TAG, ""), run.tags.get(HOST_TAG)
        if not pid.isdigit() or host is None:
            continue  # launched by the daemon: its run monitoring looks after it
        if Owner(int(pid), host).is_gone(record.create_timestamp.timestamp()):
            instance.report_run_failed(run, message=f"interrupted: process {pid} on {host} ended during the run")
            failed.append(run)
    return failed


@dataclass(frozen=True)
class Retry:
    """A crashed run to execute again, as the daemon's run retries would (instance.RUN_RETRIES)."""

    partition: str | None
    keys: tuple[dg.AssetKey, ...]
    tags: dict[str, str]


def retries_of(crashed: Sequence[dg.DagsterRun]) -> list[Retry]:
    """Dagster's rule for a crashed run: relaunched while its retry number is under max_retries,
    tagged with the root run and the retry number (so the UI groups the attempts)."""
    retries = []
    for run in crashed:
        number = int(run.tags.get(RETRY_NUMBER_TAG, "0"))
        if not run.asset_selection or number >= RUN_RETRIES["max_retries"]:
            continue
        tags = {PARENT_RUN_ID_TAG: run.run_id, ROOT_RUN_ID_TAG: run.root_run_id or run.run_id,
                RETRY_NUMBER_TAG: str(number + 1)}
        retries.append(Retry(run.tags.get(PARTITION_NAME_TAG), tuple(sorted(run.asset_selection)), tags))
    return retries


def recover(instance: dg.DagsterInstance, settings: MelodexSettings, echo: Callable[[str], None]) -> list[Retry]:
    """What a killed run left behind: stage rows, MLflow runs, temporary files, Dagster runs, and a
    champion whose materialization was never recorded. Returns the interrupted runs to execute again."""
    report = recover_interrupted(settings)
    dead = fail_dead_runs(instance)
    retries = retries_of(dead)
    notes = [report.summary(), f"{len(dead)} interrupted Dagster run(s) marked failed" if dead else "",
             f"{len(retries)} of them run again" if retries else ""]
    catch_up = champion_catch_up(instance, settings)
    if catch_up is not None:
        materialization, check = catch_up
        instance.report_runless_asset_event(materialization)
        instance.report_runless_asset_event(check)
        notes.append(f"recorded champion {materialization.tags[DATA_VERSION_TAG]} set by an interrupted training")
    if any(notes):
        echo("recovered: " + "; ".join(note for note in notes if note))
    return retries


def materialize_pending(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    settings: MelodexSettings,
    *,
    launched_by: str = "melodex run",
    retrain: bool = False,
    echo: Callable[[str], None] = print,
    console_log_level: str = "INFO",
) -> RunSummary:
    """Observe the library, then run whatever the automation conditions request, tick after tick.

    ``retrain`` additionally materializes ``genre_classifier`` once everything else has settled: the
    user asked for it; what follows (re-predicting on a new champion) is the conditions' business.
    ``console_log_level`` is the terminal's share of each run's log (the instance records all of it):
    the CLI raises it and prints its own one-line summaries and causes instead.
    """
    summary = RunSummary()
    retries = recover(instance, settings, echo)
    job = defs.resolve_implicit_global_asset_job_def()
    cursor = load_cursor(instance)
    if cursor is None:
        # A first evaluation only takes the baseline (Dagster's initial evaluation requests nothing),
        # so it must happen before the first observation of the library, or that change is lost.
        cursor = dg.evaluate_automation_conditions(defs, instance).cursor
        save_cursor(instance, cursor)
    observation = library_observation(instance, settings)
    if observation is not None:
        instance.report_runless_asset_event(observation)

    def execute(partition: str | None, keys: Sequence[dg.AssetKey], extra_tags: dict[str, str] | None = None) -> None:
        names = tuple(key.to_user_string() for key in keys)
        echo(f"▶ {ExecutedRun(partition, names, '', True).label}")
        result = job.execute_in_process(
            instance=instance, asset_selection=list(keys), partition_key=partition, raise_on_error=False,
            run_config=console_log(console_log_level), tags={**run_tags(launched_by), **(extra_tags or {})},
        )
        done = tuple(event.asset_key.to_user_string() for event in result.get_asset_materialization_events())
        run = ExecutedRun(partition, names, result.run_id, result.success, done)
        summary.runs.append(run)
        if not run.success:
            echo(f"✗ {run.label} failed: run {run.run_id} (melodex status, or the run in the Dagster UI)")

    def drain() -> None:
        nonlocal cursor
        for _ in range(MAX_TICKS):
            result = dg.evaluate_automation_conditions(defs, instance, cursor=cursor)
            cursor = result.cursor
            save_cursor(instance, cursor)
            summary.ticks += 1
            requests = requests_by_partition(result, defs)
            if not requests:
                return
            for partition, keys in requests:
                execute(partition, keys)
        echo(f"! stopped after {MAX_TICKS} evaluations that each requested work; run again to continue")

    for retry in retries:
        execute(retry.partition, retry.keys, retry.tags)
    drain()
    if retrain:
        execute(None, [dg.AssetKey("genre_classifier")])
        drain()
    return summary
