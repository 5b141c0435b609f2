"""`melodex scan` of an unchanged library: the whole command against the scan alone, in-process.

    .venv/bin/python benchmarks/bench_cli_scan.py                  # 20,000 files, 5 runs each
    .venv/bin/python benchmarks/bench_cli_scan.py --keep /tmp/lib  # reuse (or keep) the library
    git archive <commit> | tar -x -C /tmp/before                   # then, same venv, same run:
    .venv/bin/python benchmarks/bench_cli_scan.py --compare-checkout /tmp/before

Builds the library of bench_scan.py (or reuses ``--keep``), scans it once into a fresh
MELODEX_HOME, then times ``melodex scan`` as a subprocess (interpreter start, imports, the Dagster
instance, the recorded run and the scan itself) and ``scan_library`` on the same store in this
process, and prints both medians and their ratio. It also times what any command that opens the
Dagster instance pays before doing anything (settings, ``import dagster``, the instance): the
floor under the whole command.

The figures assume installed packages have bytecode (``uv sync --compile-bytecode``); without it,
with PYTHONDONTWRITEBYTECODE=1, every start compiles Dagster's sources again and the script says so.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_scan import build_library  # noqa: E402 -- the same 20,000-file generator

FLOOR = (
    "from melodex_ml.settings import get_settings\n"
    "from dagster_project.instance import ensure_instance\n"
    "ensure_instance(get_settings())\n"
)


def has_bytecode() -> bool:
    import dagster

    package = Path(dagster.__file__).parent
    return any(package.joinpath("__pycache__").glob("*.pyc"))


def timed_subprocess(command: list[str], env: dict[str, str]) -> float:
    # Run outside any checkout: `python -m` would put the working folder first on sys.path.
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=tempfile.gettempdir())
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return elapsed


def in_process_scan(home: Path, root: Path, batch_size: int) -> float:
    from melodex_ml.catalog.scan import scan_library
    from melodex_ml.store import connect

    with connect(home / "melodex.duckdb") as con:
        start = time.perf_counter()
        result = scan_library(con, [root], batch_size=batch_size)
        elapsed = time.perf_counter() - start
    assert result.counts.new == 0 and result.counts.changed == 0, "the library changed between scans"
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--keep", type=Path, help="build the library here and keep it (default: temp dir)")
    parser.add_argument(
        "--compare-checkout", type=Path,
        help="also time `melodex scan` of the source tree in this folder (e.g. an older commit), same venv and store",
    )
    args = parser.parse_args()

    if not has_bytecode():
        print("warning: installed packages have no bytecode: run `uv sync --compile-bytecode` for start-up figures")
    with tempfile.TemporaryDirectory(prefix="melodex-bench-cli-") as tmp:
        root = args.keep or Path(tmp) / "library"
        if not root.exists() or not any(root.iterdir()):
            start = time.perf_counter()
            build_library(root, args.files)
            print(f"built {args.files} files in {time.perf_counter() - start:.1f} s")
        home = Path(tmp) / "home"
        env = {
            **os.environ, "MELODEX_HOME": str(home), "MELODEX_LIBRARY_ROOTS": str(root),
            "MELODEX_BATCH_SIZE": str(args.batch_size),
        }
        env.pop("MLFLOW_TRACKING_URI", None)
        command = [sys.executable, "-m", "dagster_project.cli", "scan"]
        print(f"library: {root}; cores: {os.cpu_count()}; first scan ...", flush=True)
        first = timed_subprocess(command, env)
        print(f"first `melodex scan`            : {first:6.2f} s")

        other_env = {**env, "PYTHONPATH": str(args.compare_checkout.resolve())} if args.compare_checkout else None
        whole, floor, other = [], [], []
        for _ in range(args.runs):  # interleaved, so a load change on a shared machine hits all alike
            whole.append(timed_subprocess(command, env))
            floor.append(timed_subprocess([sys.executable, "-c", FLOOR], env))
            if other_env is not None:
                other.append(timed_subprocess(command, other_env))
        inside = [in_process_scan(home, root, args.batch_size) for _ in range(args.runs)]
        w, f, i = (statistics.median(x) for x in (whole, floor, inside))
        print(f"unchanged rescan, median of {args.runs}:")
        print(f"  whole command `melodex scan`  : {w:6.2f} s   ({', '.join(f'{x:.2f}' for x in whole)})")
        print(f"  in-process scan_library       : {i:6.2f} s   ({', '.join(f'{x:.2f}' for x in inside)})")
        if other:
            print(f"  `melodex scan` of {args.compare_checkout}: {statistics.median(other):6.2f} s   "
                  f"({', '.join(f'{x:.2f}' for x in other)})")
        print(f"  floor: settings + dagster + instance, no run: {f:.2f} s")
        print(f"whole command / in-process: {w / i:.1f}x; the command spends {w - f:.2f} s above the floor")


if __name__ == "__main__":
    main()
