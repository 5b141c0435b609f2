"""Feature extraction speed and memory, measured in one run so the ratios are comparable.

    python benchmarks/bench_features.py                 # one-decode pipeline vs the naive approach
    python benchmarks/bench_features.py --workers 1 2   # throughput per worker count
    python benchmarks/bench_features.py --long 7200     # peak RSS on a 2-hour file

The naive approach is what each feature function would do on its own: load the file with
librosa.load at 22,050 Hz and compute its own spectrogram (or signal) for every descriptor.
Both sides run on the same demo-library files with BLAS limited to one thread, and
"x real time per core" is audio seconds divided by the process's CPU seconds.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402


def naive_features(path: Path) -> dict[str, object]:
    """Every descriptor the extractor computes, each from its own decode and its own analysis."""
    import essentia.standard as es
    import librosa

    from melodex_ml.features.tonal import estimate_key

    def load() -> np.ndarray:
        return librosa.load(path, sr=22_050)[0]

    sr = 22_050
    out: dict[str, object] = {}
    out["centroid"] = librosa.feature.spectral_centroid(y=load(), sr=sr).mean()
    out["bandwidth"] = librosa.feature.spectral_bandwidth(y=load(), sr=sr).mean()
    out["rolloff"] = librosa.feature.spectral_rolloff(y=load(), sr=sr).mean()
    out["flatness"] = librosa.feature.spectral_flatness(y=load()).mean()
    out["contrast"] = librosa.feature.spectral_contrast(y=load(), sr=sr).mean(axis=1)
    out["zcr"] = librosa.feature.zero_crossing_rate(load()).mean()
    out["rms"] = librosa.feature.rms(y=load()).mean()
    mfcc = librosa.feature.mfcc(y=load(), sr=sr, n_mfcc=20)
    out["mfcc"] = (mfcc.mean(axis=1), mfcc.std(axis=1))
    y = load()
    out["tuning"] = librosa.estimate_tuning(y=y, sr=sr)
    out["key"] = estimate_key(librosa.feature.chroma_stft(y=load(), sr=sr).mean(axis=1))
    out["tempo"], beats = librosa.beat.beat_track(y=load(), sr=sr)
    out["onset_rate"] = len(librosa.onset.onset_detect(y=load(), sr=sr)) / (len(y) / sr)
    out["danceability"] = es.Danceability(sampleRate=sr)(load())[0]
    out["dynamic_complexity"] = es.DynamicComplexity(sampleRate=sr)(load())[0]
    stereo, native = librosa.load(path, sr=None, mono=False)
    stereo = np.atleast_2d(stereo)
    stereo = np.vstack([stereo, stereo]) if stereo.shape[0] == 1 else stereo[:2]
    out["loudness"] = es.LoudnessEBUR128(sampleRate=native)(np.ascontiguousarray(stereo.T))[2]
    return out


def demo_files(folder: Path, n_tracks: int, seconds: tuple[float, float]) -> list[Path]:
    from melodex_ml.demo import generate_demo_library

    truths = generate_demo_library(folder, n_tracks=n_tracks, seed=7, duration_range=seconds)
    return [folder / t.path for t in truths]


def timed(label: str, run, audio_s: float) -> float:
    cpu, wall = time.process_time(), time.perf_counter()
    run()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(f"  {label:<34} wall {wall:7.2f} s  cpu {cpu:7.2f} s  -> {audio_s / cpu:6.0f}x real time per core")
    return wall


def compare_with_naive(files: list[Path]) -> None:
    import soundfile as sf
    from threadpoolctl import threadpool_limits

    from melodex_ml.features import ExtractorConfig, FeatureExtractor

    audio_s = sum(sf.info(str(f)).duration for f in files)
    print(f"{len(files)} demo tracks, {audio_s:.0f} s of audio (mp3/ogg/flac/wav), BLAS limited to 1 thread")
    extractor = FeatureExtractor(ExtractorConfig())
    with threadpool_limits(1):
        naive_features(files[0]), extractor.extract(files[0])  # warm-up: imports, numba, filter banks
        naive = timed("naive (librosa.load per feature)", lambda: [naive_features(f) for f in files], audio_s)
        ours = timed("melodex (one decode, one STFT)", lambda: [extractor.extract(f) for f in files], audio_s)
    print(f"  speed-up: {naive / ours:.1f}x (wall)")


def worker_sweep(files: list[Path], worker_counts: list[int]) -> None:
    import soundfile as sf

    from melodex_ml.features import ExtractorConfig, extract_batch

    audio_s = sum(sf.info(str(f)).duration for f in files)
    print(f"extract_batch on {len(files)} tracks ({audio_s:.0f} s), {os.cpu_count()} cores, start-up included")
    for workers in worker_counts:
        start = time.perf_counter()
        outcomes = list(extract_batch(((str(f), f) for f in files), ExtractorConfig(), workers))
        wall = time.perf_counter() - start
        print(f"  workers={workers}: {wall:6.1f} s wall, {audio_s / wall:5.0f}x real time, {len(outcomes)} tracks")


def long_file_rss(seconds: float) -> None:
    """Write a long stereo WAV block by block, analyse it in a fresh process, report its peak RSS."""
    import soundfile as sf

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from test_features_signals import music

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mix.wav"
        minute = np.stack([music(60.0, bpm=124.0), 0.9 * music(60.0, bpm=124.0, seed=1)], axis=1)
        with sf.SoundFile(str(path), "w", 44_100, 2, "PCM_16") as handle:
            for _ in range(int(seconds // 60)):
                handle.write(minute)
        code = (
            "import resource, sys, time\n"
            "from melodex_ml.features import FeatureExtractor\n"
            "start = time.perf_counter()\n"
            "result = FeatureExtractor().extract(sys.argv[1])\n"
            "rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
            "print(f'{result.duration_s:.0f} s of audio, {len(result.segments)} segments, '\n"
            "      f'tempo {result.track.rhythm.tempo_bpm:.2f}, {time.perf_counter() - start:.0f} s wall, '\n"
            "      f'peak RSS {rss:.0f} MiB')\n"
        )
        loaded_only = (
            "import resource; from melodex_ml.features import FeatureExtractor; FeatureExtractor();"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)"
        )
        run = partial(subprocess.run, capture_output=True, text=True, check=True)
        baseline = run([sys.executable, "-c", loaded_only]).stdout.strip()
        print(f"long file: {seconds / 3600:.2f} h stereo 44.1 kHz WAV ({path.stat().st_size / 2**30:.2f} GiB)")
        print(f"  process with the extractor loaded, before any file: {baseline} MiB")
        result = run([sys.executable, "-c", code, str(path)])
        print("  " + result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tracks", type=int, default=8)
    parser.add_argument("--workers", type=int, nargs="*", help="sweep extract_batch over these worker counts")
    parser.add_argument("--long", type=float, metavar="SECONDS", help="peak RSS on a file this long")
    args = parser.parse_args()
    if args.long:
        long_file_rss(args.long)
        return
    with tempfile.TemporaryDirectory() as tmp:
        files = demo_files(Path(tmp), args.tracks, (40.0, 60.0))
        if args.workers:
            worker_sweep(files, args.workers)
        else:
            compare_with_naive(files)


if __name__ == "__main__":
    main()
