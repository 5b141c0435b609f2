"""Train/val/test splits that keep a track, and by default an artist, on one side only.

Records are linked when they share a track (``track_key``), an audio file, or, when splitting by
artist, an artist (``artist_key``); each connected group goes to one split as a whole. Linking is
transitive, so a Song Describer track and its MTG-Jamendo twin land together with every other
track of their artist. Records without an artist are grouped by track only.

Groups are stratified by label (their most common first genre): taken label by label, largest
first, each group goes to the split furthest below its target share of everything assigned so
far. That keeps the overall ratios within one group of the target and every label close to them,
which scikit-learn's splitters cannot do together (StratifiedGroupKFold gives k equal folds and
needs at least k groups). Ties are broken by a seeded hash of the group's smallest id, so the
result does not depend on input order.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from .datasets.records import SPLITS, CatalogRecord
from .sampling import rank

DEFAULT_RATIOS: tuple[float, float, float] = (0.8, 0.1, 0.1)


@dataclass(frozen=True)
class SplitOutcome:
    records: list[CatalogRecord]  # input order, ``split`` filled in
    groups: int
    official_conflicts: int  # groups whose members' official splits disagree (majority wins)


def check_ratios(ratios: Sequence[float]) -> tuple[float, float, float]:
    if len(ratios) != 3 or any(r < 0 for r in ratios) or abs(sum(ratios) - 1.0) > 1e-6:
        raise ValueError(f"split ratios must be three non-negative numbers summing to 1, not {tuple(ratios)}")
    return (float(ratios[0]), float(ratios[1]), float(ratios[2]))


def group_ids(records: Sequence[CatalogRecord], *, by_artist: bool = True) -> np.ndarray:
    """Group number per record: connected components of the record-key graph."""
    keys: dict[str, int] = {}
    rows, cols = [], []
    for i, record in enumerate(records):
        linked = [f"track:{record.track_key}", f"file:{record.audio_path}"]
        if by_artist and record.artist_key:
            linked.append(f"artist:{record.artist_key}")
        for key in linked:
            rows.append(i)
            cols.append(len(records) + keys.setdefault(key, len(keys)))
    size = len(records) + len(keys)
    graph = coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(size, size))
    _, labels = connected_components(graph, directed=False)
    return labels[: len(records)]


def assign_splits(
    records: Sequence[CatalogRecord],
    *,
    ratios: Sequence[float] = DEFAULT_RATIOS,
    by_artist: bool = True,
    use_official: bool = False,
    seed: int = 42,
) -> SplitOutcome:
    """Give every record a split; with ``use_official`` a group holding records with a dataset's
    own split (FMA ``set.split``) goes there, and the others fill the ratios around it."""
    ratios = check_ratios(ratios)
    if not records:
        return SplitOutcome([], 0, 0)
    members: dict[int, list[int]] = {}
    for i, group in enumerate(group_ids(records, by_artist=by_artist)):
        members.setdefault(int(group), []).append(i)

    totals = dict.fromkeys(SPLITS, 0)
    chosen: dict[int, str] = {}
    conflicts = 0
    if use_official:
        for group, indices in members.items():
            official = Counter(records[i].official_split for i in indices if records[i].official_split)
            if official:
                conflicts += len(official) > 1
                split = max(SPLITS, key=lambda s: (official[s], -SPLITS.index(s)))
                chosen[group] = split
                totals[split] += len(indices)

    def order(group: int) -> tuple:
        indices = members[group]
        labels = Counter(records[i].genres[0] for i in indices if records[i].genres)
        label = min(labels, key=lambda g: (-labels[g], g)) if labels else ""
        return (label, -len(indices), rank(seed, min(records[i].id for i in indices)))

    for group in sorted((g for g in members if g not in chosen), key=order):
        size = len(members[group])
        assigned = sum(totals.values()) + size
        split = max(SPLITS, key=lambda s: (ratios[SPLITS.index(s)] * assigned - totals[s], -SPLITS.index(s)))
        chosen[group] = split
        totals[split] += size

    split_of = {i: chosen[group] for group, indices in members.items() for i in indices}
    out = [dataclasses.replace(record, split=split_of[i]) for i, record in enumerate(records)]
    return SplitOutcome(out, len(members), conflicts)
