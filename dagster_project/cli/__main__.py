"""`python -m dagster_project.cli`: the same command line as the `melodex` script."""

import sys

from dagster_project.cli import main

sys.exit(main())
