"""Shared by the test_cli_* modules: the `melodex` command as a real subprocess, and small libraries.

(No tests here; pytest collects the module and finds none.)
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import soundfile as sf

COMMAND = [sys.executable, "-m", "dagster_project.cli"]


@dataclass(frozen=True)
class Done:
    returncode: int
    stdout: str
    stderr: str

    @property
    def error_lines(self) -> list[str]:
        return [text for text in self.stderr.splitlines() if text.strip()]


def cli_env(home: Path, **variables: str) -> dict[str, str]:
    """The test process's environment without any MELODEX_* of its own, plus ``variables``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MELODEX_") and k != "MLFLOW_TRACKING_URI"}
    env.update({"MELODEX_HOME": str(home), "COLUMNS": "1000", **variables})
    return env


def melodex(*args: str, home: Path, timeout: float = 900, **variables: str) -> Done:
    """Run `melodex ARGS` to the end; MELODEX_* come from ``variables`` (e.g. MELODEX_DEVICE="cuda")."""
    done = subprocess.run(
        [*COMMAND, *args], env=cli_env(home, **variables), capture_output=True, timeout=timeout, cwd=home.parent,
    )
    return Done(done.returncode, done.stdout.decode("utf-8", "replace"), done.stderr.decode("utf-8", "replace"))


def start_melodex(*args: str, home: Path, **variables: str) -> subprocess.Popen:
    return subprocess.Popen(
        [*COMMAND, *args], env=cli_env(home, **variables), cwd=home.parent,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )


def write_tones(folder: Path, count: int, seconds: float = 1.0) -> list[Path]:
    """``count`` small WAV files, each a different pure tone (so each has its own audio hash)."""
    folder.mkdir(parents=True, exist_ok=True)
    rate = 8000
    t = np.arange(int(rate * seconds)) / rate
    paths = []
    for i in range(count):
        path = folder / f"tone {i:02d}.wav"
        sf.write(path, (0.3 * np.sin(2 * np.pi * (220 + 55 * i) * t)).astype("float32"), rate)
        paths.append(path)
    return paths


def query(home: Path, sql: str, *params) -> list[tuple]:
    with duckdb.connect(str(home / "melodex.duckdb"), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()
