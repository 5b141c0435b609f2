"""Whole-command start-up of `melodex features` on one short file, next to the in-process figure.

    python benchmarks/bench_startup.py                   # 10 s WAV, 3 warm runs
    python benchmarks/bench_startup.py --isolate-numba   # cold = empty numba cache whatever the code does
    python benchmarks/bench_startup.py --via-uv          # `uv run melodex ...` instead of .venv/bin/melodex

What a user waits for is the whole command: interpreter start, imports (from bytecode only if it
was compiled at install: PYTHONDONTWRITEBYTECODE=1 forbids writing it on the fly), numba's JIT
(from its cache if one exists) and then the analysis. The in-process figure is the analysis
alone in an already warm process; the ratio says how much of the command is start-up.

"cold" runs with a fresh MELODEX_HOME, so it pays every JIT compilation the code does not find
in a cache; "warm" re-uses that home. The report says where the numba cache landed.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402


def write_clip(path: Path, seconds: float) -> Path:
    """One demo-synth track (drums, bass, chords) as 16-bit WAV, like a user's `one.wav`."""
    from melodex_ml.demo.synth import SAMPLE_RATE, plan_track, render_track

    plan = plan_track("electronic", 9, "minor", (seconds, seconds), np.random.default_rng(3))
    sf.write(path, render_track(plan), SAMPLE_RATE, subtype="PCM_16")
    return path


PROJECT = Path(__file__).resolve().parents[1]
VIA_UV = False  # set from --via-uv


def command() -> list[str]:
    """The installed console script of this environment, or `uv run melodex` (which also checks the lock)."""
    if VIA_UV:
        return [shutil.which("uv") or "uv", "run", "--locked", "--project", str(PROJECT), "melodex"]
    script = Path(sys.executable).with_name("melodex")
    return [str(script)] if script.exists() else [sys.executable, "-m", "dagster_project.cli"]


def child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_command(clip: Path, home: Path, isolate_numba: bool) -> tuple[float, float]:
    """(wall, CPU) seconds of one `melodex features` run. CPU time is reported next to wall time
    because these machines are shared: another job's load stretches wall time, not CPU time."""
    env = {**os.environ, "MELODEX_HOME": str(home)}
    env.pop("NUMBA_CACHE_DIR", None)
    if isolate_numba:  # the cache under this home, even for code that does not put it there itself
        env["NUMBA_CACHE_DIR"] = str(home / "numba")
    start, cpu = time.perf_counter(), child_cpu()
    done = subprocess.run([*command(), "features", str(clip)], env=env, capture_output=True, text=True)
    elapsed, cpu = time.perf_counter() - start, child_cpu() - cpu
    if done.returncode != 0:
        sys.exit(f"melodex features failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return elapsed, cpu


def imports_only() -> tuple[float, float]:
    """Interpreter start plus the imports of the features command, nothing run: (wall, CPU)."""
    code = "import dagster_project.cli, melodex_ml.features.report, melodex_ml.features.extract"
    start, cpu = time.perf_counter(), child_cpu()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - start, child_cpu() - cpu


def in_process(clip: Path, home: Path, repeat: int) -> tuple[float, float]:
    """(first extraction incl. imports and JIT, median warm extraction) in this process."""
    os.environ["MELODEX_HOME"] = str(home)
    start = time.perf_counter()
    from melodex_ml.features import ExtractorConfig
    from melodex_ml.features.batch import shared_extractor
    from melodex_ml.settings import get_settings

    extractor = shared_extractor(ExtractorConfig.from_settings(get_settings()))
    extractor.extract(clip)
    first = time.perf_counter() - start
    warm = []
    for _ in range(repeat):
        start = time.perf_counter()
        extractor.extract(clip)
        warm.append(time.perf_counter() - start)
    return first, statistics.median(warm)


def bytecode_compiled() -> bool:
    """Whether installed packages were compiled to bytecode (numpy's __init__ as the witness)."""
    spec = importlib.util.find_spec("numpy")
    return bool(spec and spec.origin and Path(importlib.util.cache_from_source(spec.origin)).exists())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="clip length")
    parser.add_argument("--repeat", type=int, default=3, help="warm runs (median reported)")
    parser.add_argument("--isolate-numba", action="store_true", help="point NUMBA_CACHE_DIR at the fresh home")
    parser.add_argument("--via-uv", action="store_true", help="time `uv run melodex` instead of the script")
    args = parser.parse_args()
    global VIA_UV
    VIA_UV = args.via_uv

    with tempfile.TemporaryDirectory(prefix="melodex-startup-") as tmp:
        tmp = Path(tmp)
        clip = write_clip(tmp / "one.wav", args.seconds)
        home = tmp / "home"
        shown = "uv run melodex" if VIA_UV else "melodex"
        print(f"`{shown} features one.wav` ({args.seconds:g} s clip), "
              f"{os.cpu_count()} cores, bytecode compiled at install: {'yes' if bytecode_compiled() else 'no'}, "
              f"PYTHONDONTWRITEBYTECODE={os.environ.get('PYTHONDONTWRITEBYTECODE', '')!r}")
        cold = run_command(clip, home, args.isolate_numba)
        cached = sorted((home / "numba").rglob("*.nbi")) if (home / "numba").exists() else []
        warm = [run_command(clip, home, args.isolate_numba) for _ in range(args.repeat)]
        imports = imports_only()
        first, analysis = in_process(clip, home, args.repeat)
        shutil.rmtree(home, ignore_errors=True)

    warm_s = statistics.median(w for w, _ in warm)
    warm_cpu = statistics.median(c for _, c in warm)
    print(f"  whole command, cold numba cache  {cold[0]:6.2f} s   cpu {cold[1]:6.2f} s")
    print(f"  whole command, warm numba cache  {warm_s:6.2f} s   cpu {warm_cpu:6.2f} s   (median of {args.repeat}; "
          f"wall {', '.join(f'{w:.2f}' for w, _ in warm)})")
    print(f"  interpreter + imports only       {imports[0]:6.2f} s   cpu {imports[1]:6.2f} s")
    print(f"  in-process, first file           {first:6.2f} s   (imports + JIT + analysis, this process)")
    print(f"  in-process, warm                 {analysis:6.2f} s   (analysis only)")
    print(f"  numba cache in MELODEX_HOME: {len(cached)} index files")
    print(f"  ratio warm command / in-process analysis: {warm_s / analysis:5.1f}x;  "
          f"cold / warm: {cold[0] / warm_s:4.2f}x")


if __name__ == "__main__":
    main()
