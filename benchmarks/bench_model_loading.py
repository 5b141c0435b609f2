"""Cost of loading Essentia TensorFlow heads once per process versus once per file.

    python benchmarks/bench_model_loading.py [--files 50] [--heads 5] [--megabytes 16]

Real heads cannot be downloaded here, so the heads are toy graphs (tests/toy_heads.py)
padded with unused weights to a realistic file size (Essentia's EffNet-Discogs heads and
embedding model are 1-18 MB). Both runs extract the same files with the same heads: the
cached run builds one FeatureExtractor (heads loaded through process_cache()), the per-file
run builds a FeatureExtractor with an empty cache for every file, as code that loads its
model inside the per-track function would.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

HEADS = ("danceability", "voice_instrumental", "tonal_atonal", "mood_happy", "mood_party", "mood_sad", "genre_toy")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=50)
    parser.add_argument("--heads", type=int, default=5, choices=range(1, len(HEADS) + 1))
    parser.add_argument("--megabytes", type=float, default=16.0, help="size of each head's .pb")
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each file")
    args = parser.parse_args()

    import soundfile as sf

    # The toy heads are a test fixture (they need dev-only tensorboard), not part of the package.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from toy_heads import write_toy_head

    from melodex_ml.features import ExtractorConfig, FeatureExtractor
    from melodex_ml.models.cache import ModelCache

    with tempfile.TemporaryDirectory() as tmp:
        models, audio = Path(tmp) / "models", Path(tmp) / "audio"
        audio.mkdir()
        ballast = int(args.megabytes * 2**20 / 4)
        for name in HEADS[: args.heads]:
            write_toy_head(models, f"{name}-toy-1", [name, f"non_{name}"], [1, -1], ballast=ballast)
        rng = __import__("numpy").random.default_rng(0)
        files = []
        for i in range(args.files):
            samples = (rng.standard_normal((int(args.seconds * 16_000), 2)) * 0.1).astype("float32")
            files.append(audio / f"{i:02d}.wav")
            sf.write(str(files[-1]), samples, 16_000)
        config = ExtractorConfig(models_dir=models)
        FeatureExtractor(config, cache=ModelCache()).extract(files[0])  # warm-up: imports, TF runtime

        start = time.perf_counter()
        extractor = FeatureExtractor(config, cache=ModelCache())
        for f in files:
            extractor.extract(f)
        cached = time.perf_counter() - start

        start = time.perf_counter()
        for f in files:
            FeatureExtractor(config, cache=ModelCache()).extract(f)
        per_file = time.perf_counter() - start

    print(f"{args.files} files x {args.seconds:.0f} s, {args.heads} heads of {args.megabytes:.0f} MB each")
    print(f"  heads loaded once (process cache): {cached:6.2f} s  ({cached / args.files * 1000:5.0f} ms per track)")
    print(f"  heads loaded for every file:       {per_file:6.2f} s  ({per_file / args.files * 1000:5.0f} ms per track)")
    print(f"  ratio {per_file / cached:.1f}x; loading costs {(per_file - cached) / args.files * 1000:.0f} ms per track")


if __name__ == "__main__":
    main()
