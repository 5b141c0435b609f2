"""`python -m dagster_project.cli`: the same command line as the `melodex` script."""

from dagster_project.cli import entry

entry()
