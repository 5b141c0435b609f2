"""Duration filters and reproducible sampling (random, stratified by dataset or by duration bin).

Every selection ranks records by a keyed hash of ``(seed, id)`` instead of shuffling a list, so
the same seed picks the same ids whatever order the records arrive in, and growing a dataset
only adds records to a selection instead of reshuffling it.
"""

from __future__ import annotations

import bisect
import hashlib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Literal

from .datasets.records import CatalogRecord

Stratify = Literal["none", "dataset", "duration"]
STRATIFY_CHOICES: tuple[str, ...] = ("none", "dataset", "duration")
# Short / medium / long: clips, excerpts and songs, full-length pieces.
DEFAULT_DURATION_BINS: tuple[float, ...] = (60.0, 240.0)


def rank(seed: int, key: str) -> int:
    """Deterministic pseudo-random position of ``key`` under ``seed``."""
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8, key=str(seed).encode("utf-8"))
    return int.from_bytes(digest.digest(), "big")


def filter_duration(
    records: Iterable[CatalogRecord], min_duration: float | None = None, max_duration: float | None = None
) -> tuple[list[CatalogRecord], list[CatalogRecord]]:
    """Split records into (kept, dropped) by ``min_duration <= duration <= max_duration``."""
    kept, dropped = [], []
    for record in records:
        too_short = min_duration is not None and record.duration < min_duration
        too_long = max_duration is not None and record.duration > max_duration
        (dropped if too_short or too_long else kept).append(record)
    return kept, dropped


def duration_bin(duration: float, edges: Sequence[float] = DEFAULT_DURATION_BINS) -> str:
    """Label of the bin holding ``duration``: ``<60s``, ``60-240s``, ``>=240s`` for the default edges."""
    i = bisect.bisect_right(edges, duration)
    if i == 0:
        return f"<{edges[0]:g}s"
    if i == len(edges):
        return f">={edges[-1]:g}s"
    return f"{edges[i - 1]:g}-{edges[i]:g}s"


def balanced_quotas(sizes: Mapping[str, int], total: int) -> dict[str, int]:
    """Split ``total`` as evenly as possible over strata, none above its size; what a small stratum
    cannot take goes to the others (water-filling). Leftover single units go to strata in name order."""
    quotas = dict.fromkeys(sizes, 0)
    remaining = min(total, sum(sizes.values()))
    by_size = sorted(sizes, key=lambda name: (sizes[name], name))
    for i, name in enumerate(by_size):
        if sizes[name] > remaining // (len(by_size) - i):
            # This and every larger stratum can take an equal share: split what is left among them.
            rest = sorted(by_size[i:])
            share, extra = divmod(remaining, len(rest))
            for j, big in enumerate(rest):
                quotas[big] = share + (1 if j < extra else 0)
            break
        quotas[name] = sizes[name]
        remaining -= sizes[name]
    return quotas


def _take_per_stratum(
    ordered: Sequence[CatalogRecord], stratum: Callable[[CatalogRecord], str], quota: Mapping[str, int]
) -> list[CatalogRecord]:
    taken: Counter[str] = Counter()
    out = []
    for record in ordered:
        key = stratum(record)
        if taken[key] < quota.get(key, 0):
            taken[key] += 1
            out.append(record)
    return out


def select(
    records: Iterable[CatalogRecord],
    *,
    max_samples: int | None = None,
    stratify_by: Stratify = "none",
    samples_per_dataset: int | None = None,
    dataset_caps: Mapping[str, int] | None = None,
    seed: int = 42,
    duration_bins: Sequence[float] = DEFAULT_DURATION_BINS,
) -> list[CatalogRecord]:
    """Pick records: first per-dataset caps, then the global maximum, random or stratified.

    ``dataset_caps`` overrides ``samples_per_dataset`` for the datasets it names. Stratified
    selection balances strata (datasets or duration bins) rather than keeping their proportions,
    as the reference script did. Returns records sorted by id.
    """
    if stratify_by not in STRATIFY_CHOICES:
        raise ValueError(f"stratify_by must be one of {STRATIFY_CHOICES}, not {stratify_by!r}")
    ordered = sorted(records, key=lambda r: (rank(seed, r.id), r.id))
    caps = dict(dataset_caps or {})
    if samples_per_dataset is not None or caps:
        quota = {}
        for dataset in {r.dataset for r in ordered}:
            cap = caps.get(dataset, samples_per_dataset)
            quota[dataset] = len(ordered) if cap is None else cap
        ordered = _take_per_stratum(ordered, lambda r: r.dataset, quota)
    if max_samples is not None and len(ordered) > max_samples:
        if stratify_by == "none":
            ordered = ordered[:max_samples]
        else:
            stratum = (
                (lambda r: r.dataset)
                if stratify_by == "dataset"
                else (lambda r: duration_bin(r.duration, duration_bins))
            )
            quotas = balanced_quotas(Counter(map(stratum, ordered)), max_samples)
            ordered = _take_per_stratum(ordered, stratum, quotas)
    return sorted(ordered, key=lambda r: r.id)
