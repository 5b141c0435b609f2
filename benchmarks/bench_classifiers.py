"""Train and evaluate every genre classifier on a GTZAN-style folder or the demo library.

    uv run python benchmarks/bench_classifiers.py                       # demo library, half tagged
    uv run python benchmarks/bench_classifiers.py --gtzan ~/data/gtzan  # <genre>/<file> folders
    uv run python benchmarks/bench_classifiers.py --wav2vec2 ~/models/wav2vec2-base --embeddings musicnn.h5

Every model: the descriptor baseline, the MFCC CNN, logistic and MLP probes on MusiCNN's (msd, mtt)
segment embeddings and the zero-shot genres from its tags (``--no-musicnn`` leaves those out), probes
on ``--embeddings`` and a fine-tuned ``--wav2vec2`` when given.

Prints, per model: accuracy and macro F1 on the shared held-out split, per-genre accuracy,
training time, and, when only part of the library is tagged (``--tagged``, 0.5 by default for the
demo library), the share of untagged tracks whose top label is right (the target: >= 90 % on a
real library, >= 95 % on the demo styles). The baseline is the descriptor logistic regression;
every model's training time is also printed relative to it.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from melodex_ml.demo import generate_demo_library  # noqa: E402
from melodex_ml.embeddings.hdf5 import read_embedding_files  # noqa: E402
from melodex_ml.embeddings.text import TextEncoder  # noqa: E402
from melodex_ml.models.genre_model import TAGS  # noqa: E402
from melodex_ml.settings import MelodexSettings  # noqa: E402
from melodex_ml.training.benchmark import demo_folder, format_rows, gtzan_folder, musicnn_inputs, run_benchmark  # noqa: E402
from melodex_ml.training.zero_shot import train_zero_shot  # noqa: E402
from melodex_ml.training.inputs import SegmentVectors  # noqa: E402
from melodex_ml.training.wav2vec2 import (  # noqa: E402
    Wav2Vec2Config,
    encoder_sample_rate,
    prepare_audio,
    train_wav2vec2_classifier,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gtzan", type=Path, help="GTZAN-style folder: <genre>/<audio file>")
    parser.add_argument("--demo-tracks", type=int, default=48, help="tracks in the generated demo library")
    parser.add_argument("--demo-dir", type=Path, help="where to generate (or reuse) the demo library")
    parser.add_argument("--tagged", type=float, help="share of each genre's tracks that keep their tag")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--embeddings",
        type=Path,
        nargs="*",
        default=[],
        help="HDF5 embedding files keyed by the same track ids (path relative to the folder)",
    )
    parser.add_argument("--encoder", default="embeddings", help="name of the --embeddings encoder")
    parser.add_argument("--no-musicnn", action="store_true", help="leave out the MusiCNN probes and zero-shot genres")
    parser.add_argument("--wav2vec2", help="wav2vec2-family encoder (HF id in the cache, or a folder) to fine-tune")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")

    started = time.perf_counter()
    if args.gtzan:
        folder, tagged = gtzan_folder(args.gtzan), args.tagged or 1.0
    else:
        root = args.demo_dir or Path(tempfile.gettempdir()) / f"melodex-bench-demo-{args.demo_tracks}"
        generate_demo_library(root, n_tracks=args.demo_tracks, seed=0)
        folder, tagged = demo_folder(root), args.tagged or 0.5
    print(f"{len(folder.tracks)} tracks, {len(set(folder.labels.values()))} genres in {folder.root}; "
          f"{tagged:.0%} of each genre tagged; seed {args.seed}")  # fmt: skip

    extra_vectors, extra_candidates, extra_inputs = {}, {}, {}
    if not args.no_musicnn:
        # MusiCNN's embeddings get the probes, its tags the zero-shot genre mapping (nothing trained).
        vectors, tags = musicnn_inputs(folder.tracks)
        extra_vectors |= vectors
        encoder = TextEncoder.load(MelodexSettings())

        def zero_shot(taxonomy, split):
            return train_zero_shot(tags, taxonomy, split, encoder.encode, text_encoder=encoder.model_id)

        extra_candidates["zero-shot"] = zero_shot
        extra_inputs[TAGS] = tags
    if args.embeddings:
        embeddings = read_embedding_files(args.embeddings)
        level = "segment" if embeddings.segments is not None else "track"
        extra_vectors[args.encoder] = SegmentVectors.from_embeddings(embeddings, args.encoder, level)
    if args.wav2vec2:
        config = Wav2Vec2Config(model_id=args.wav2vec2, seed=args.seed)
        prepared = prepare_audio(folder.tracks, config, encoder_sample_rate(config))

        def wav2vec2(taxonomy, split):
            return train_wav2vec2_classifier(prepared, taxonomy, split, config)

        extra_candidates["wav2vec2"] = wav2vec2
        extra_inputs["audio"] = prepared

    rows, _ = run_benchmark(folder, tagged_fraction=tagged, seed=args.seed, extra_vectors=extra_vectors,
                            extra_candidates=extra_candidates, extra_inputs=extra_inputs)  # fmt: skip
    print(format_rows(rows))
    baseline = rows[0].train_seconds
    print("\ntraining time relative to the descriptor baseline: "
          + ", ".join(f"{r.candidate} {r.train_seconds / baseline:.1f}x" for r in rows[1:]))  # fmt: skip
    print(f"\ntotal {time.perf_counter() - started:.0f} s (features, MFCCs, MusiCNN and training)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
