"""MusiCNN speed: batched vs one patch at a time, ours vs the original TensorFlow extractor, `similar` queries.

    uv run python benchmarks/bench_musicnn.py [--files 3] [--seconds 30] [--skip-tf] [--long-minutes 0]

Every comparison runs both sides in the same run on the same input and prints the ratio:

1. one PyTorch pipeline (decode, resample, log-mel, network) with ``batch_size`` patches per forward pass
   versus ``batch_size=1``, on the same files; patches per second on this CPU (model loaded once);
2. our whole per-file tagging (``MusicnnTagger.analyse_file``, MSD model loaded once, as the embeddings
   stage runs) versus the original ``musicnn.extractor.extractor`` on the same files, per call, in the
   throwaway TensorFlow environment of ``scripts/musicnn_reference.py`` (skipped when it does not exist;
   its TF import is not counted, its per-call graph building and checkpoint restore are, as the original
   does them for every file);
3. ``CosineIndex.similar_to`` over 100,000 x 200 float32 vectors (RANDOM vectors: a speed test, not a
   quality one) versus normalising and fully sorting per query;
4. with ``--long-minutes N``: peak resident memory of tagging a 3-minute file and then an N-minute one
   (a two-hour file is ``--long-minutes 120``); a bounded pipeline peaks at about the same. With glibc's
   default malloc the peak still creeps up (about 7 MB a batch after the first hour): the front end's
   large, short-lived feature maps fragment the heap once glibc's dynamic mmap threshold has grown. Python
   objects do not accumulate (a run without the network stays flat), and with a fixed threshold
   (set by the tagger itself, melodex_ml.models.cache.bound_heap_growth) a two-hour file peaks where a 3-minute one does.

Files are demo-library tracks (``melodex_ml.demo.synth``), 44.1 kHz stereo WAV.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def write_demo_files(folder: Path, n: int, seconds: float) -> list[Path]:
    import soundfile as sf

    from melodex_ml.demo.synth import SAMPLE_RATE, STYLES, plan_track, render_track

    rng = np.random.default_rng(7)
    paths = []
    for i in range(n):
        plan = plan_track(STYLES[i % len(STYLES)], int(rng.integers(12)), "major", (seconds, seconds), rng)
        paths.append(folder / f"{i:02d}-{plan.style}.wav")
        sf.write(paths[-1], render_track(plan), SAMPLE_RATE, subtype="PCM_16")
    return paths


def time_files(tagger, files: list[Path]) -> tuple[list[float], int]:
    seconds, patches = [], 0
    for path in files:
        start = time.perf_counter()
        result = tagger.analyse_file(path)
        seconds.append(time.perf_counter() - start)
        patches += result.n_patches
    return seconds, patches


def bench_batching(files: list[Path], batch_size: int) -> None:
    from melodex_ml.embeddings.musicnn.tagger import MusicnnConfig, MusicnnTagger

    batched = MusicnnTagger.load("msd-musicnn", config=MusicnnConfig(batch_size=batch_size))
    single = MusicnnTagger.load("msd-musicnn", config=MusicnnConfig(batch_size=1))
    batched.analyse_file(files[0])  # warm-up (thread pools, kernels)
    one_s, patches = time_files(single, files)
    batch_s, _ = time_files(batched, files)
    print(f"1. batching ({len(files)} files, {patches} patches, msd-musicnn, CPU)")
    print(f"   one patch per forward:  {sum(one_s):6.2f} s  {patches / sum(one_s):6.1f} patches/s")
    print(f"   {batch_size:2d} patches per forward: {sum(batch_s):6.2f} s  {patches / sum(batch_s):6.1f} patches/s")
    print(f"   ratio {sum(one_s) / sum(batch_s):.2f}x")
    both = MusicnnTagger.load(config=MusicnnConfig(batch_size=batch_size))
    both_s, _ = time_files(both, files)
    print(f"   msd + mtt on the same patches: {patches / sum(both_s):6.1f} patches/s ({sum(both_s):.2f} s)")
    bench_network_alone(batched.networks[0].network)


def bench_network_alone(network, n: int = 64) -> None:
    """The network without decoding or front end, on the same log-mel patches at several batch sizes:
    whether batching can pay at all on this device."""
    import torch

    patches = torch.randn(n, 187, 96)
    rates = {}
    with torch.inference_mode():
        network(patches[:4])  # warm-up
        for size in (1, 4, 16, 64):
            start = time.perf_counter()
            for first in range(0, n, size):
                network(patches[first : first + size])
            rates[size] = n / (time.perf_counter() - start)
    print(f"   network alone, patches/s: {', '.join(f'batch {b}: {r:.1f}' for b, r in rates.items())}")
    bench_compute_ceiling(network, max(rates.values()))


def network_macs(network) -> int:
    """Multiply-adds of one 187-frame patch through the network's convolutions and dense layers."""
    frames, bands = 187, 96
    macs = 0
    for block in network.timbral:
        filters, _, kernel_t, kernel_f = block.conv.weight.shape
        macs += frames * (bands - kernel_f + 1) * filters * kernel_t * kernel_f
    for block in network.temporal:
        filters, _, kernel_t, _ = block.conv.weight.shape
        macs += frames * bands * filters * kernel_t
    for layer in network.midend:
        macs += frames * layer.conv.weight.numel()
    return macs + network.dense.weight.numel() + network.classifier.weight.numel()


def bench_compute_ceiling(network, network_rate: float) -> None:
    """Whether the network is compute-bound here: its multiply-adds per second next to a plain float32
    matrix product of the largest layer's shape, and the network under
    bfloat16 autocast (where the CPU has bf16 instructions), with how far its tags move."""
    import torch

    macs = network_macs(network)
    a, b = torch.randn(8 * 187 * 59, 266), torch.randn(266, 204)  # the 7x38 timbral layer as one GEMM
    a @ b
    start = time.perf_counter()
    for _ in range(5):
        a @ b
    gemm = 5 * a.shape[0] * a.shape[1] * b.shape[1] / (time.perf_counter() - start)
    print(f"   compute: {macs / 1e9:.2f} GMAC per patch; network {macs * network_rate / 1e9:.1f} GMAC/s, "
          f"float32 GEMM of its largest layer alone {gemm / 1e9:.1f} GMAC/s (ratio {macs * network_rate / gemm:.2f}: "
          "above 1, the network already runs at least as fast as the BLAS does on plain matrix products)")
    patches = torch.rand(32, 187, 96) * 3
    with torch.inference_mode():
        exact = network(patches).tags
        with torch.autocast("cpu", dtype=torch.bfloat16):
            network(patches[:4])
            start = time.perf_counter()
            low = network(patches).tags.float()
            rate = 32 / (time.perf_counter() - start)
    print(f"   bfloat16 autocast: {rate:.1f} patches/s ({rate / network_rate:.2f}x), max tag change "
          f"{(low - exact).abs().max():.4f} (not used: stored numbers stay float32 and match the original)")


def bench_against_tensorflow(files: list[Path], venv: Path, batch_size: int) -> None:
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"2. original TF extractor: skipped ({python} missing; build it with scripts/musicnn_reference.py)")
        return
    from melodex_ml.embeddings.musicnn.tagger import MusicnnConfig, MusicnnTagger

    script = REPO / "scripts" / "musicnn_reference.py"
    run = subprocess.run(
        [str(python), str(script), "--time-extractor", *map(str, files), "--model", "MSD_musicnn"],
        capture_output=True,
        text=True,
        check=True,
    )
    tf_seconds = list(json.loads(run.stdout.strip().splitlines()[-1])["seconds"].values())
    tagger = MusicnnTagger.load("msd-musicnn", config=MusicnnConfig(batch_size=batch_size))
    tagger.analyse_file(files[0])
    ours, patches = time_files(tagger, files)
    print(f"2. whole per-file tagging, msd-musicnn ({len(files)} files, {patches} patches)")
    for name, seconds in (("original TF extractor", tf_seconds), ("Melodex (PyTorch)", ours)):
        median = statistics.median(seconds)
        print(f"   {name:22s} median {median:6.2f} s per file, total {sum(seconds):6.2f} s")
    medians = statistics.median(tf_seconds) / statistics.median(ours)
    print(f"   ratio {sum(tf_seconds) / sum(ours):.2f}x (totals), {medians:.2f}x (medians)")


def bench_similar(n: int, dim: int, queries: int) -> None:
    from melodex_ml.search.similarity import CosineIndex

    vectors = np.random.default_rng(0).standard_normal((n, dim)).astype(np.float32)
    start = time.perf_counter()
    index = CosineIndex(vectors)
    build = time.perf_counter() - start
    rows = np.random.default_rng(1).integers(0, n, queries)
    fast = []
    for row in rows:
        start = time.perf_counter()
        index.similar_to(int(row), k=10)
        fast.append(time.perf_counter() - start)
    naive = []
    for row in rows[: max(3, queries // 4)]:
        start = time.perf_counter()
        unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        scores = unit @ unit[row]
        scores[row] = -np.inf
        np.argsort(-scores)[:10]
        naive.append(time.perf_counter() - start)
    print(f"3. similar over {n:,} x {dim} float32 RANDOM vectors (a speed test), {queries} queries")
    print(f"   index build (normalise once): {build * 1000:.1f} ms")
    print(f"   CosineIndex.similar_to: median {statistics.median(fast) * 1000:.2f} ms, max {max(fast) * 1000:.2f} ms")
    print(f"   normalise + full sort per query: median {statistics.median(naive) * 1000:.2f} ms")
    print(f"   ratio {statistics.median(naive) / statistics.median(fast):.1f}x")


def _write_long_file(path: Path, minutes: float) -> None:
    import soundfile as sf

    rate, block = 44_100, 44_100 * 10
    t = np.arange(block) / rate
    with sf.SoundFile(path, "w", rate, 2, "PCM_16") as f:
        for i in range(int(minutes * 6)):
            tone = 0.2 * np.sin(2 * np.pi * (220 + 20 * (i % 12)) * t) * (1 + np.sin(2 * np.pi * 0.5 * t)) / 2
            f.write(np.stack([tone, tone], axis=1).astype(np.float32))


def bench_memory(folder: Path, minutes: float) -> None:
    from melodex_ml.embeddings.musicnn.tagger import MusicnnTagger

    tagger = MusicnnTagger.load("msd-musicnn")
    peaks = []
    for length in (3.0, minutes):  # 3 minutes: 60 patches, so full batches of 32 are in both
        path = folder / f"long-{length:g}min.wav"
        _write_long_file(path, length)
        start = time.perf_counter()
        result = tagger.analyse_file(path)
        peaks.append(
            (
                length,
                result.n_patches,
                resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                time.perf_counter() - start,
            )
        )
        path.unlink()
    print("4. memory (peak resident set of this process so far, msd-musicnn)")
    for length, patches, peak_mb, seconds in peaks:
        print(f"   {length:6.0f} min file: {patches:5d} patches, {seconds:6.1f} s, peak RSS {peak_mb:7.0f} MB")
    print(f"   ratio of peaks {peaks[1][2] / peaks[0][2]:.2f}x for a {minutes / 3.0:.0f}x longer file")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--venv", type=Path, default=Path("/tmp/musicnn-tf"))
    parser.add_argument("--skip-tf", action="store_true")
    parser.add_argument("--vectors", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--long-minutes", type=float, default=0.0)
    args = parser.parse_args()

    import torch

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory(prefix="bench-musicnn-") as tmp:
        files = write_demo_files(Path(tmp), args.files, args.seconds)
        bench_batching(files, args.batch_size)
        if not args.skip_tf:
            bench_against_tensorflow(files, args.venv, args.batch_size)
        bench_similar(args.vectors, 200, args.queries)
        if args.long_minutes:
            bench_memory(Path(tmp), args.long_minutes)


if __name__ == "__main__":
    main()
