"""What a Dagster run did, in a few lines read back from the instance's event log.

The CLI keeps Dagster's own console log out of the terminal (``--debug`` lets it through, step
tracebacks included) and prints, per run: each materialization's summary, each skipped stage with
its reason, and each failed step with its root cause on one line.
"""

from __future__ import annotations

from dataclasses import dataclass

from dagster_project.cli.errors import FAILED, USAGE, first_line, is_disk_message
from dagster_project.cli.terminal import say

# Our own errors, whose message is written for people: a failed step quotes them as they are.
PEOPLE_ERRORS = {"StoreError", "StorageError", "StoreBusy", "ForbiddenQuery", "ConfigurationError"}


@dataclass(frozen=True)
class StepFailure:
    step: str
    cause: str
    for_people: bool  # a disk, store or configuration problem the user can fix

    @property
    def exit_code(self) -> int:
        return USAGE if self.for_people else FAILED


def log_level(debug: bool) -> str:
    """The terminal's share of Dagster's log: everything with --debug, else nothing (we summarise)."""
    return "DEBUG" if debug else "CRITICAL"


def root_cause(error) -> tuple[str, bool]:
    """One line from a Dagster SerializableErrorInfo and whether it is for people: our own error if
    the chain holds one, else the innermost cause (Dagster's step error only names the step)."""
    errors = []
    while error is not None and len(errors) < 20:
        errors.append(error)
        error = error.cause or error.context
    if not errors:
        return "unknown error", False
    chosen = next((e for e in errors if e.cls_name in PEOPLE_ERRORS), errors[-1])
    message = first_line(chosen.message)
    prefix, separator, rest = message.partition(": ")
    if separator and prefix.rsplit(".", 1)[-1] == chosen.cls_name:
        message = rest  # Dagster keeps "module.ClassName: message"
    if chosen.cls_name in PEOPLE_ERRORS:
        return message, True
    return f"{chosen.cls_name}: {message}", is_disk_message(message)


def step_failures(instance, run_id: str) -> list[StepFailure]:
    """Each failed step of a run with its root cause; the run's own failure when no step failed."""
    import dagster as dg

    found = []
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE):
        found.append(StepFailure(entry.step_key or "step", *root_cause(entry.dagster_event.step_failure_data.error)))
    if not found:
        for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_FAILURE):
            error = getattr(entry.dagster_event.event_specific_data, "error", None)
            cause = root_cause(error) if error is not None else (first_line(entry.message or "run failed"), False)
            found.append(StepFailure("run", *cause))
    return list(dict.fromkeys(found))


def report_run(instance, run_id: str, *, indent: str = "  ", told: str | None = None) -> int:
    """Print what the run materialized (summaries), skipped (reasons) and why it failed; its exit code.

    ``told``: a skip reason already printed as a warning (an unusable device), not repeated per stage.
    """
    import dagster as dg

    kinds = {dg.DagsterEventType.ASSET_MATERIALIZATION, dg.DagsterEventType.ASSET_OBSERVATION}
    for entry in instance.all_logs(run_id, of_type=kinds):
        event = entry.asset_materialization or entry.asset_observation
        name = event.asset_key.to_user_string()
        summary, skipped = event.metadata.get("summary"), event.metadata.get("skipped")
        if entry.asset_materialization is not None and summary is not None:
            for text in str(summary.value).strip("`\n").splitlines():
                say(indent + text)
        elif skipped is not None and skipped.value == told:
            say(indent, ("skipped ", "yellow"), f"{name} (the device, see the warning above)")
        elif skipped is not None:
            say(indent, ("skipped ", "yellow"), f"{name}: {skipped.value}")
    code = 0
    for failure in step_failures(instance, run_id):
        say(indent, ("✗ ", "red"), f"{failure.step}: {failure.cause}")
        code = max(code, failure.exit_code)
    return code
