"""Every classifier on a labelled folder, the way a user meets them: tag some tracks, predict the rest.

A :class:`LabelledFolder` is a GTZAN-style tree (``<genre>/<file>``) or the demo library (its
ground truth). With ``tagged_fraction`` below 1, that share of each label's tracks keeps its tag
(picked by a seeded hash) and the others are untagged: the candidates learn the user's taxonomy
from the tagged tracks (scored on the shared split among them, then refit on all of them) and
predict every untagged track, whose true label is known here. Descriptors come straight from
:mod:`melodex_ml.features` (no store); extra vector inputs (e.g. MusiCNN embeddings keyed by the
same track ids) can be handed in and get the two probes.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from melodex_ml.catalog.datasets.audio import is_audio
from melodex_ml.catalog.datasets.gtzan import genre_folder
from melodex_ml.catalog.sampling import rank
from melodex_ml.demo import load_ground_truth
from melodex_ml.features.batch import extract_batch
from melodex_ml.features.config import ExtractorConfig
from melodex_ml.features.records import SEGMENTS_TABLE, FeatureFailure
from melodex_ml.embeddings.segment_tags import SegmentTags
from melodex_ml.models.genre_model import GenreModel, embedding_input
from melodex_ml.training.audio_segments import PreparedSegments
from melodex_ml.training.candidate import CandidateResult
from melodex_ml.training.dataset import expand_descriptor_columns
from melodex_ml.training.evaluation_split import SplitConfig, make_evaluation_split
from melodex_ml.training.inputs import SegmentVectors
from melodex_ml.training.labels import LabelConfig, build_taxonomy
from melodex_ml.training.mfcc_cnn import MfccCnnConfig, prepare_mfcc, train_mfcc_cnn
from melodex_ml.training.probes import train_logistic_probe, train_mlp_probe

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LabelledFolder:
    root: Path
    tracks: dict[str, Path]  # track id (path relative to root) -> file
    labels: dict[str, str]  # the true label of every track
    artists: dict[str, str | None]


@dataclass(frozen=True)
class BenchmarkRow:
    candidate: str
    accuracy: float  # shared split among the tagged tracks
    macro_f1: float
    per_label_accuracy: dict[str, float]  # recall per label on the shared split
    train_seconds: float
    untagged_accuracy: float | None  # top label right, over the untagged tracks
    n_untagged: int
    untagged_per_label: dict[str, float] = field(default_factory=dict)


def gtzan_folder(root: Path) -> LabelledFolder:
    """Genre subfolders of audio files; GTZAN has no artists, so each file is its own group."""
    base = genre_folder(Path(root))
    tracks, labels = {}, {}
    for genre_dir in sorted(p for p in base.iterdir() if p.is_dir()):
        for name in sorted(n for n in os.listdir(genre_dir) if is_audio(n)):
            track_id = f"{genre_dir.name}/{name}"
            tracks[track_id], labels[track_id] = genre_dir / name, genre_dir.name
    return LabelledFolder(base, tracks, labels, dict.fromkeys(tracks))


def demo_folder(root: Path) -> LabelledFolder:
    """The demo library at ``root`` with its genre tags as written (``Hip-Hop``) and artists."""
    truth = load_ground_truth(Path(root))
    return LabelledFolder(Path(root), {t.path: Path(root) / t.path for t in truth}, {t.path: t.genre for t in truth},
                          {t.path: t.artist for t in truth})  # fmt: skip


def tag_share(folder: LabelledFolder, fraction: float, seed: int) -> dict[str, list[str]]:
    """Tags as a user would have them: ``fraction`` of each label's tracks tagged, the rest empty."""
    tags: dict[str, list[str]] = {}
    for label in sorted(set(folder.labels.values())):
        ids = sorted((t for t, lab in folder.labels.items() if lab == label), key=lambda t: rank(seed, t))
        keep = round(fraction * len(ids)) if fraction < 1 else len(ids)
        tags |= {t: ([label] if i < keep else []) for i, t in enumerate(ids)}
    return tags


def descriptor_vectors(tracks: Mapping[str, Path], workers: int = 1) -> tuple[SegmentVectors, list[FeatureFailure]]:
    """Segment descriptors of every file, computed without the store (like `melodex features`)."""
    rows, failures = [], []
    for track_id, outcome in extract_batch(sorted(tracks.items()), ExtractorConfig(), workers):
        if isinstance(outcome, FeatureFailure):
            failures.append(outcome)
        else:
            rows += outcome.rows(track_id)[SEGMENTS_TABLE]
    frame = pd.DataFrame(rows).sort_values(["track_id", "segment_index"])
    matrix, names = expand_descriptor_columns(frame)
    return SegmentVectors(matrix, frame["track_id"].to_numpy(dtype=str), "descriptors", tuple(names)), failures


def musicnn_inputs(tracks: Mapping[str, Path]) -> tuple[dict[str, SegmentVectors], SegmentTags]:
    """MusiCNN's segment embeddings (per network) and segment tag vectors of every file, as the
    embeddings stage stores them, computed without the store (both networks loaded once)."""
    from melodex_ml.embeddings.musicnn.tagger import MusicnnTagger
    from melodex_ml.embeddings.segment_tags import TAG_MODELS, result_tag_vectors

    batch = MusicnnTagger.load().analyse_tracks(sorted(tracks.items()))
    results = sorted(batch.results, key=lambda r: r.key)
    owners = np.concatenate([np.full(len(r.segments), r.key) for r in results]).astype(str)
    vectors = {}
    for model in TAG_MODELS:
        values = np.concatenate([r.outputs[model].segment_embeddings for r in results]).astype(np.float32)
        vectors[model] = SegmentVectors(values, owners, embedding_input(model))
    segments = [s for r in results for s in r.segments]
    index = np.array([s.index for s in segments], np.int64)
    starts, ends = np.array([s.start_s for s in segments]), np.array([s.end_s for s in segments])
    return vectors, SegmentTags(owners, index, starts, ends, np.concatenate([result_tag_vectors(r) for r in results]))


Trainer = Callable[[object, object, object], CandidateResult]


def run_benchmark(
    folder: LabelledFolder,
    *,
    tagged_fraction: float = 1.0,
    seed: int = 42,
    test_fraction: float = 0.3,
    descriptors: SegmentVectors | None = None,
    mfcc: PreparedSegments | None = None,
    extra_vectors: Mapping[str, SegmentVectors] | None = None,
    mfcc_config: MfccCnnConfig = MfccCnnConfig(),
    extra_candidates: Mapping[str, Callable[..., CandidateResult]] | None = None,
    extra_inputs: Mapping[str, object] | None = None,
) -> tuple[list[BenchmarkRow], list[CandidateResult]]:
    """Train and score every candidate whose inputs are given or computable (descriptors, MFCC).

    ``extra_candidates``: name -> ``train(taxonomy, split)``; ``extra_inputs``: their inputs by
    input kind (e.g. ``{"audio": prepared}``), for predicting the untagged tracks.
    """
    tags = tag_share(folder, tagged_fraction, seed)
    descriptors = descriptors if descriptors is not None else descriptor_vectors(folder.tracks)[0]
    mfcc = mfcc if mfcc is not None else prepare_mfcc(folder.tracks, mfcc_config)
    taxonomy = build_taxonomy(tags, folder.artists, LabelConfig(), with_inputs=descriptors.tracks() | mfcc.tracks())
    split = make_evaluation_split(taxonomy, SplitConfig(test_fraction=test_fraction, seed=seed))
    for line in [*taxonomy.report.lines(), *split.notes()]:
        log.info(line)
    results = [train_logistic_probe(descriptors, taxonomy, split), train_mfcc_cnn(mfcc, taxonomy, split, mfcc_config)]
    for vectors in (extra_vectors or {}).values():
        results += [train_logistic_probe(vectors, taxonomy, split), train_mlp_probe(vectors, taxonomy, split)]
    for train in (extra_candidates or {}).values():
        results.append(train(taxonomy, split))
    inputs_of = {"descriptors": descriptors, "mfcc": mfcc, **{v.input_kind: v for v in (extra_vectors or {}).values()},
                 **(extra_inputs or {})}  # fmt: skip
    rows = []
    for result in results:
        untagged = untagged_predictions(result.model, inputs_of.get(result.model.input_kind), taxonomy.unlabeled)
        truth = {t: folder.labels[t] for t in untagged}
        right = [untagged[t] == truth[t] for t in untagged]
        per_label = {label: float(np.mean([untagged[t] == label for t in untagged if truth[t] == label]))
                     for label in sorted(set(truth.values()))}  # fmt: skip
        rows.append(BenchmarkRow(
            candidate=result.candidate, accuracy=result.evaluation.accuracy, macro_f1=result.evaluation.macro_f1,
            per_label_accuracy={k: m.recall for k, m in result.evaluation.per_class.items()},
            train_seconds=result.train_seconds, untagged_accuracy=float(np.mean(right)) if right else None,
            n_untagged=len(taxonomy.unlabeled), untagged_per_label=per_label,
        ))  # fmt: skip
    return rows, results


def untagged_predictions(model: GenreModel, inputs: object, track_ids: tuple[str, ...]) -> dict[str, str]:
    """Top label (mean of segment probabilities) of every untagged track the model has inputs for."""
    if inputs is None or not track_ids:
        return {}
    out = {}
    for track_id in track_ids:
        if isinstance(inputs, PreparedSegments):
            rows = inputs.rows_of([track_id])
            segment_inputs = [inputs.inputs[i] for i in rows]
        else:
            rows = inputs.rows_of([track_id])
            segment_inputs = rows.values
        if len(rows) == 0:
            continue
        _, global_probs, _ = model.predict_track(segment_inputs)
        out[track_id] = model.labels[int(np.argmax(global_probs))]
    return out


def format_rows(rows: list[BenchmarkRow]) -> str:
    labels = sorted({label for r in rows for label in r.per_label_accuracy})
    lines = [f"{'model':<34} {'accuracy':>8} {'macro F1':>8} {'untagged':>9} {'train s':>8}"]
    for r in rows:
        untagged = f"{r.untagged_accuracy:.3f}" if r.untagged_accuracy is not None else "-"
        lines.append(f"{r.candidate:<34} {r.accuracy:>8.3f} {r.macro_f1:>8.3f} {untagged:>9} {r.train_seconds:>8.1f}")
    lines += [
        "",
        "per-genre accuracy on the shared split" + (" | on the untagged tracks" if rows[0].n_untagged else ""),
    ]
    lines.append(f"{'model':<34} " + " ".join(f"{label[:10]:>10}" for label in labels))
    for r in rows:
        cells = []
        for label in labels:
            cell = f"{r.per_label_accuracy.get(label, float('nan')):.2f}"
            if r.n_untagged:
                cell += f"|{r.untagged_per_label.get(label, float('nan')):.2f}"
            cells.append(f"{cell:>10}")
        lines.append(f"{r.candidate:<34} " + " ".join(cells))
    return "\n".join(lines)
