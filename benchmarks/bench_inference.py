"""Genre inference on real-length tracks: the DataLoader stream vs one segment at a time.

    uv run python benchmarks/bench_inference.py [--tracks 8] [--minutes 3 5] [--workers 2] [--batch-size 16]

Generates demo tracks of 3 to 5 minutes (deterministic synthetic styles), trains an MFCC CNN on a
few short demo tracks (the audio-reading champion, where the input pipeline matters; its accuracy
is irrelevant here) and registers it as the champion of a temporary MELODEX_HOME. Then, on the
same files, prints segments per second for

1. the baseline of the old script: each file decoded, each 30 s segment prepared and run through
   the model on its own, one after the other;
2. the stream `melodex predict` runs: an AudioSegmentDataset through a DataLoader, ``--batch-size``
   segments a forward pass, with 0 and ``--workers`` decoding processes;

and the ratio, the JSONL size per 1,000 tracks, and the whole `melodex predict` command's time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from melodex_ml import experiments, registry  # noqa: E402
from melodex_ml.demo import generate_demo_library  # noqa: E402
from melodex_ml.inference.adhoc import predict_paths  # noqa: E402
from melodex_ml.inference.stream import PredictionFailure  # noqa: E402
from melodex_ml.settings import MelodexSettings  # noqa: E402
from melodex_ml.training.audio_segments import load_mono, segment_bounds  # noqa: E402
from melodex_ml.training.evaluation_split import make_evaluation_split  # noqa: E402
from melodex_ml.training.labels import build_taxonomy  # noqa: E402
from melodex_ml.training.mfcc_cnn import MfccCnnConfig, prepare_mfcc, train_mfcc_cnn  # noqa: E402
from melodex_ml.training.torch_loop import LoopConfig  # noqa: E402


def train_champion(settings: MelodexSettings, folder: Path) -> None:
    truth = generate_demo_library(folder, n_tracks=12, seed=1, duration_range=(20.0, 25.0))
    paths = {t.path: folder / t.path for t in truth}
    prepared = prepare_mfcc(paths, MfccCnnConfig())
    taxonomy = build_taxonomy({t.path: [t.genre] for t in truth}, {t.path: t.artist for t in truth},
                              with_inputs=prepared.tracks())  # fmt: skip
    config = MfccCnnConfig(loop=LoopConfig(max_epochs=5, batch_size=16, patience=5))
    experiments.log_candidate(train_mfcc_cnn(prepared, taxonomy, make_evaluation_split(taxonomy), config), settings)
    registry.promote_champion(settings)


def one_segment_at_a_time(model, files: list[Path]) -> int:
    segments = 0
    for path in files:
        mono = load_mono(path, model.card.sample_rate)
        for lo, hi in segment_bounds(len(mono), model.card.sample_rate, model.card.segment_seconds):
            model.outputs([model.prepare(mono[lo:hi])])
            segments += 1
    return segments


def streamed(settings: MelodexSettings, files: list[Path], batch_size: int, workers: int) -> tuple[int, list]:
    run = predict_paths(settings, files, batch_size=batch_size, num_workers=workers, with_tags=False)
    lines = [line for line in run.lines if not isinstance(line, PredictionFailure)]
    return sum(line.total_segments for line in lines), lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=8)
    parser.add_argument("--minutes", type=float, nargs=2, default=(3.0, 5.0))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="melodex-bench-") as tmp:
        tmp = Path(tmp)
        settings = MelodexSettings(home=tmp / "home")
        train_champion(settings, tmp / "train")
        truth = generate_demo_library(tmp / "long", n_tracks=args.tracks, seed=7,
                                      duration_range=(60 * args.minutes[0], 60 * args.minutes[1]))  # fmt: skip
        files = [tmp / "long" / t.path for t in truth]
        champion = experiments.load_champion(settings)
        print(f"{len(files)} files, champion {champion.candidate} v{champion.version}, {os.cpu_count()} CPU cores")

        started = time.perf_counter()
        n = one_segment_at_a_time(champion.model, files)
        baseline = n / (time.perf_counter() - started)
        print(f"1. one segment at a time (baseline)            {baseline:7.2f} segments/s  ({n} segments)")
        rates = {}
        for workers in (0, args.workers):
            started = time.perf_counter()
            n, lines = streamed(settings, files, args.batch_size, workers)
            rates[workers] = n / (time.perf_counter() - started)
            print(f"2. DataLoader, batch {args.batch_size:>3}, {workers} worker(s)         {rates[workers]:7.2f} segments/s"
                  f"  ratio {rates[workers] / baseline:.2f}x")  # fmt: skip
        size = sum(len(json.dumps(asdict(line), ensure_ascii=False)) + 1 for line in lines) / len(lines)
        print(f"JSONL: {size / 1024:.1f} KiB per track of {n / len(lines):.1f} segments on average"
              f" -> {size * 1000 / 2**20:.1f} MiB per 1,000 such tracks (without top_tags)")

        env = {**os.environ, "MELODEX_HOME": str(settings.home)}
        started = time.perf_counter()
        command = [sys.executable, "-m", "dagster_project.cli", "predict", str(tmp / "long"), "--num-workers",
                   str(args.workers), "--output", str(tmp / "out.jsonl")]  # fmt: skip
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        if done.returncode:
            sys.exit(f"melodex predict failed ({done.returncode}):\n{done.stderr[-3000:]}")
        whole = time.perf_counter() - started
        with_tags = (tmp / "out.jsonl").stat().st_size / len(files)
        print(f"3. whole command `melodex predict <folder>` (with MusiCNN top tags): {whole:.1f} s for {len(files)} files"
              f"; JSONL {with_tags * 1000 / 2**20:.1f} MiB per 1,000 tracks")  # fmt: skip


if __name__ == "__main__":
    main()
