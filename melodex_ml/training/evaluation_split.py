"""One fixed evaluation split per task: every candidate model is scored on the same held-out tracks.

Tracks are grouped by artist, so no artist has tracks on both sides, except for labels with a
single artist (their tracks are grouped one by one: holding out the artist would hold out the
label) and artists whose tracks span such a label. Groups are assigned label by label (the
label with the fewest groups first) in a seeded-hash order, each label getting about
``test_fraction`` of its tracks held out and at least one track on each side. Nothing depends
on input order: the same tracks, labels, artists and seed give the same split, whose hash
(of the sorted train and test track ids) is recorded with every run scored on it.

:func:`carve_validation` takes a validation part out of the TRAIN tracks the same way, for
early stopping; test tracks are never seen while training or choosing an epoch.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from melodex_ml.catalog.sampling import rank
from melodex_ml.training.labels import NotEnoughData, Taxonomy


# The catalog's splits whose tracks are held out for evaluation (val is not used to fit anything).
HELD_OUT_SPLITS = ("val", "test")


@dataclass(frozen=True)
class SplitConfig:
    test_fraction: float = 0.3
    seed: int = 42

    def __post_init__(self) -> None:
        if not 0.0 < self.test_fraction < 1.0:
            raise ValueError(f"test_fraction must lie strictly between 0 and 1, not {self.test_fraction}")


@dataclass(frozen=True)
class EvaluationSplit:
    task: str
    seed: int
    train_track_ids: tuple[str, ...]  # sorted
    test_track_ids: tuple[str, ...]  # sorted
    split_hash: str
    held_out_by: dict[str, str]  # label -> "artist" | "track"
    artists_on_both_sides: tuple[str, ...]

    def test_mask(self, track_ids: Sequence[str] | np.ndarray) -> np.ndarray:
        return np.isin(np.asarray(track_ids, dtype=str), np.asarray(self.test_track_ids, dtype=str))

    def train_mask(self, track_ids: Sequence[str] | np.ndarray) -> np.ndarray:
        return np.isin(np.asarray(track_ids, dtype=str), np.asarray(self.train_track_ids, dtype=str))

    def notes(self) -> list[str]:
        by_track = sorted(label for label, how in self.held_out_by.items() if how == "track")
        out = [f"{len(self.train_track_ids)} train / {len(self.test_track_ids)} test tracks, split {self.split_hash}"]
        if by_track:
            out.append("tracks rather than artists held out for: " + ", ".join(by_track))
        if self.artists_on_both_sides:
            out.append(f"{len(self.artists_on_both_sides)} artist(s) have tracks on both sides")
        return out

    def as_dict(self) -> dict[str, object]:
        return {"task": self.task, "seed": self.seed, "split_hash": self.split_hash,
                "train": list(self.train_track_ids), "test": list(self.test_track_ids),
                "held_out_by": self.held_out_by}  # fmt: skip


def split_hash(train_ids: Sequence[str], test_ids: Sequence[str]) -> str:
    payload = json.dumps({"train": sorted(train_ids), "test": sorted(test_ids)}, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def make_evaluation_split(taxonomy: Taxonomy, config: SplitConfig = SplitConfig()) -> EvaluationSplit:
    """The task's held-out split over the tracks of ``taxonomy``."""
    test, held_out_by = _assign(taxonomy.track_labels, taxonomy.track_artists, config.test_fraction, config.seed)
    return _split(taxonomy, test, held_out_by, config.seed)


def split_from_catalog(
    taxonomy: Taxonomy, catalog_split: Mapping[str, str], config: SplitConfig = SplitConfig()
) -> EvaluationSplit:
    """The split the unified catalog gave the tracks: its val and test tracks are held out.

    The catalog's splits are group-aware across datasets and checked for leaks, so every model of
    every task is scored on tracks no model trained on. A label the catalog left on one side only
    (all its tracks in one artist, say) gets its tracks held out here instead, as
    :func:`make_evaluation_split` would, and the split's notes say so. Without catalog splits
    (the library left out of the catalog) the split is made here.
    """
    if not any(t in catalog_split for t in taxonomy.track_labels):
        return make_evaluation_split(taxonomy, config)
    test = {t for t in taxonomy.track_labels if catalog_split.get(t) in HELD_OUT_SPLITS}
    held_out_by = {}
    for label in taxonomy.labels:
        tracks = [t for t, lab in taxonomy.track_labels.items() if lab == label]
        held = sum(t in test for t in tracks)
        if 0 < held < len(tracks):
            held_out_by[label] = "artist"
            continue
        # The catalog keeps an artist on one side; hold out this label's tracks one by one instead.
        relabelled, _ = _assign({t: label for t in tracks}, {}, config.test_fraction, config.seed)
        test = (test - set(tracks)) | relabelled
        held_out_by[label] = "track"
    return _split(taxonomy, test, held_out_by, config.seed)


def _split(taxonomy: Taxonomy, test: set[str], held_out_by: dict[str, str], seed: int) -> EvaluationSplit:
    train = sorted(t for t in taxonomy.track_labels if t not in test)
    test_sorted = sorted(test)
    sides: dict[str, set[bool]] = defaultdict(set)
    for track_id, artist in taxonomy.track_artists.items():
        if artist:
            sides[artist].add(track_id in test)
    return EvaluationSplit(
        task=taxonomy.task,
        seed=seed,
        train_track_ids=tuple(train),
        test_track_ids=tuple(test_sorted),
        split_hash=split_hash(train, test_sorted),
        held_out_by=held_out_by,
        artists_on_both_sides=tuple(sorted(a for a, s in sides.items() if len(s) == 2)),
    )


def carve_validation(
    taxonomy: Taxonomy, split: EvaluationSplit, fraction: float = 0.2, seed: int | None = None
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(fit, validation) track ids taken from the split's TRAIN tracks, group-aware like the split.

    Labels with a single train track keep it for fitting (nothing to validate it against).
    """
    labels = {t: taxonomy.track_labels[t] for t in split.train_track_ids}
    artists = {t: taxonomy.track_artists.get(t, "") for t in labels}
    val, _ = _assign(labels, artists, fraction, split.seed + 1 if seed is None else seed, require_both=False)
    fit = tuple(t for t in split.train_track_ids if t not in val)
    return fit, tuple(sorted(val))


def holdout_tracks(
    track_ids: Sequence[str], artists: Mapping[str, str] | None, fraction: float, seed: int
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(kept, held out) for an unlabelled task (retrieval): whole artists held out, else tracks."""
    if len(set(track_ids)) < 2:
        raise NotEnoughData(f"need at least 2 tracks to hold some out, got {len(set(track_ids))}")
    artists = artists or {}
    held, _ = _assign(dict.fromkeys(track_ids, ""), {t: artists.get(t) or "" for t in track_ids}, fraction, seed)
    return tuple(sorted(t for t in set(track_ids) if t not in held)), tuple(sorted(held))


def _assign(
    labels: Mapping[str, str], artists: Mapping[str, str], fraction: float, seed: int, *, require_both: bool = True
) -> tuple[set[str], dict[str, str]]:
    """Held-out track ids and, per label, whether whole artists or single tracks were held out."""
    by_track: set[str] = set()
    for _ in range(len(set(labels.values())) + 1):
        held_out, sides_ok, per_track = _assign_once(labels, artists, fraction, seed, by_track)
        how = {label: "track" if label in per_track else "artist" for label in sorted(sides_ok)}
        # A label can end up on one side only when its artists' tracks are mostly other labels':
        # such a label falls back to holding out tracks, and the assignment is redone.
        missing = {label for label, ok in sides_ok.items() if not ok} - per_track
        if not missing:
            break
        by_track |= missing
    if require_both and not all(sides_ok.values()):
        raise NotEnoughData(
            f"cannot hold out a track of every label: {sorted(k for k, ok in sides_ok.items() if not ok)}"
        )
    return held_out, how


def _assign_once(
    labels: Mapping[str, str], artists: Mapping[str, str], fraction: float, seed: int, by_track: set[str]
) -> tuple[set[str], dict[str, bool], set[str]]:
    tracks_of: dict[str, list[str]] = defaultdict(list)
    for track_id, label in labels.items():
        tracks_of[label].append(track_id)
    # Labels whose tracks share a single artist (or are told to) are grouped by track.
    per_track = set(by_track)
    for label, tracks in tracks_of.items():
        if len({artists.get(t) or f"track:{t}" for t in tracks}) < 2:
            per_track.add(label)

    def group(track_id: str) -> str:
        artist = artists.get(track_id, "")
        return f"track:{track_id}" if labels[track_id] in per_track or not artist else f"artist:{artist}"

    members: dict[str, list[str]] = defaultdict(list)
    for track_id in labels:
        members[group(track_id)].append(track_id)
    groups_of = {label: sorted({group(t) for t in tracks}) for label, tracks in tracks_of.items()}

    side: dict[str, bool] = {}  # group -> held out
    for label in sorted(tracks_of, key=lambda lab: (len(groups_of[lab]), lab)):
        n = len(tracks_of[label])
        target = max(1, round(fraction * n)) if n > 1 else 0
        for g in sorted((g for g in groups_of[label] if g not in side), key=lambda g: rank(seed, g)):
            held = sum(side.get(group(t), False) for t in tracks_of[label])
            unassigned_after = sum(1 for h in groups_of[label] if h not in side and h != g)
            kept = sum(not side[group(t)] for t in tracks_of[label] if group(t) in side)
            size = sum(group(t) == g for t in tracks_of[label])
            # Hold out while that brings the label nearer its target (at least one track), but
            # never its last chance of a train track.
            nearer = held + size - target < target - held
            side[g] = target > 0 and (held == 0 or nearer) and (kept > 0 or unassigned_after > 0)
    held_out = {t for g, out in side.items() if out for t in members[g]}
    sides_ok = {
        label: any(t in held_out for t in tracks) and any(t not in held_out for t in tracks)
        for label, tracks in tracks_of.items()
    }
    return held_out, sides_ok, per_track
