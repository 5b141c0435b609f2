"""The wheel is the product: build it, install it in a fresh venv, run the demo outside the checkout.

Dependencies are pinned to uv.lock's versions (``uv export`` as constraints), so the install links
the already-downloaded wheels from uv's cache instead of resolving torch anew. The venv sees only
what the wheel declares: an undeclared import, DDL read from the checkout or a test fixture inside
the package fails here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from melodex_ml.store import connect

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent


def uv_executable() -> str:
    found = os.environ.get("UV") or shutil.which("uv")  # `uv run` names itself in $UV
    if not found:
        pytest.skip("uv is not installed")
    return found


def step(timings: dict[str, float], name: str, command: list[str], **kwargs) -> subprocess.CompletedProcess:
    start = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, **kwargs)
    timings[name] = round(time.monotonic() - start, 1)
    assert done.returncode == 0, f"{name} failed ({done.returncode}):\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done


def test_the_installed_wheel_runs_the_demo_outside_the_checkout(tmp_path):
    uv = uv_executable()
    timings: dict[str, float] = {}
    dist, venv, outside, home = (tmp_path / name for name in ("dist", "venv", "elsewhere", "home"))
    outside.mkdir()

    step(timings, "build", [uv, "build", "--wheel", "--out-dir", str(dist), str(ROOT)])
    (wheel,) = dist.glob("melodex-*.whl")
    constraints = tmp_path / "constraints.txt"
    step(timings, "export", [uv, "export", "--frozen", "--no-dev", "--no-hashes", "--no-emit-project",
                             "--project", str(ROOT), "-o", str(constraints)])
    step(timings, "venv", [uv, "venv", "--quiet", "--python", sys.executable, str(venv)])
    python = venv / "bin" / "python"
    step(timings, "install", [uv, "pip", "install", "--quiet", "--python", str(python), str(wheel),
                              "-c", str(constraints)])

    # Nothing of the checkout or of this test's environment may leak into the installed program.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MELODEX_", "MLFLOW_", "VIRTUAL_ENV", "UV_")) and k != "PYTHONPATH"}
    env.update(MELODEX_HOME=str(home), PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}")
    where = step(timings, "import", [str(python), "-c",
                                     "import melodex_ml.store.migrations as m; print(m.__file__); print(m.sql_root())"],
                 cwd=outside, env=env)
    module_file, sql_root = where.stdout.split()
    assert Path(module_file).is_relative_to(venv) and Path(sql_root).is_relative_to(venv)

    step(timings, "demo", [str(venv / "bin" / "melodex"), "demo", "--tracks", "6"], cwd=outside, env=env, timeout=1200)
    print("wheel test timings (s):", timings)

    database = home / "melodex.duckdb"
    assert database.is_file()
    truth = json.loads((home / "demo-library" / "ground_truth.json").read_text())
    expected = {str(home / "demo-library" / track["path"]) for track in truth["tracks"]}
    assert len(expected) == 6
    with connect(database, read_only=True) as con:
        live = {row[0] for row in con.execute("SELECT path FROM live_tracks").fetchall()}
    assert expected <= live
