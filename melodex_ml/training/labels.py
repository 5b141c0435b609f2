"""The user's taxonomy: training labels from a tag field, spellings merged, every decision reported.

Labels come from one tag field of the library (``genres`` by default; any text or text-list
column of ``live_tracks`` by setting). A multi-valued field gives a single-label task: a track's
label is its first value, the order the user's tagger put first, and tracks with further values
are counted in the report. (A multi-label task would need sigmoid heads and per-label thresholds
everywhere downstream; the JSONL format users keep has one distribution per segment.)

Spellings that differ only in case, accents, spacing or punctuation are one label
(``Hip-Hop`` = ``hip hop`` = ``HipHop``); the label is shown as its most common spelling and
every merge is reported. Labels with too few tracks to be both learned and scored are left
out *and reported*; labels with few tracks are trained and flagged as rare; a label whose
tracks all come from one artist cannot hold out an artist, so its tracks are held out instead
(the split says so). Fewer than two usable labels raise :class:`NotEnoughData` carrying the
report, so no model is ever trained on nothing.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

import duckdb

_NOT_ALNUM = re.compile(r"[^0-9a-z]+")


class NotEnoughData(ValueError):
    """Too few labelled tracks or labels to train and evaluate honestly; ``report`` says why."""

    def __init__(self, message: str, report: LabelReport | None = None):
        super().__init__(message)
        self.report = report


@dataclass(frozen=True)
class LabelConfig:
    field: str = "genres"  # tag column of live_tracks: VARCHAR or VARCHAR[]
    min_tracks_per_label: int = 2  # fewer cannot be both trained on and held out: reported, left out
    rare_below: int = 5  # labels with fewer tracks train but are flagged rare


@dataclass(frozen=True)
class LabelMerge:
    label: str  # the spelling shown (the most common one)
    spellings: tuple[str, ...]  # every spelling merged into it, most common first
    tracks: int


@dataclass(frozen=True)
class LabelReport:
    field: str
    n_tracks: int  # tracks offered
    n_tagged: int  # with a non-empty value in the field
    n_multi_valued: int  # tagged with several values: the first one is the label
    n_without_inputs: int  # tagged, but no features/embeddings/audio to learn from
    merges: tuple[LabelMerge, ...]
    counts: dict[str, int]  # label -> tracks, for the labels kept
    rare: dict[str, int]  # kept labels with fewer than rare_below tracks
    excluded: dict[str, str]  # label -> why it is not part of the task
    single_artist: tuple[str, ...]  # kept labels whose tracks all share one artist: tracks are held out

    def lines(self) -> list[str]:
        """The report as sentences, for run notes, `melodex status` and MLflow."""
        out = [
            f"{self.n_tagged} of {self.n_tracks} tracks carry a '{self.field}' value; "
            f"{len(self.counts)} label(s) kept: " + ", ".join(f"{k} ({v})" for k, v in self.counts.items())
        ]
        if self.n_multi_valued:
            out.append(f"{self.n_multi_valued} track(s) have several values: the first one is their label")
        out += [f"merged {', '.join(repr(s) for s in m.spellings)} into '{m.label}' ({m.tracks} tracks)"
                for m in self.merges]  # fmt: skip
        if self.n_without_inputs:
            out.append(f"{self.n_without_inputs} tagged track(s) have no model inputs yet and are left out")
        out += [f"rare label '{k}': only {v} track(s)" for k, v in self.rare.items()]
        out += [f"label '{k}' left out: {why}" for k, why in self.excluded.items()]
        out += [
            f"label '{k}' has a single artist: its tracks, not its artist, are held out" for k in self.single_artist
        ]
        return out


@dataclass(frozen=True)
class Taxonomy:
    """The labels of one task and the label of every track that trains it."""

    task: str
    labels: tuple[str, ...]  # sorted
    track_labels: dict[str, str]  # track_id -> label, tracks that train the task
    track_artists: dict[str, str]  # track_id -> artist key ('' when unknown)
    report: LabelReport
    unlabeled: tuple[str, ...] = field(default=())  # tracks with no value: the ones to predict

    @property
    def track_ids(self) -> tuple[str, ...]:
        return tuple(sorted(self.track_labels))

    def label_index(self, track_ids: Sequence[str]) -> list[int]:
        position = {label: i for i, label in enumerate(self.labels)}
        return [position[self.track_labels[t]] for t in track_ids]


def label_key(value: str) -> str:
    """What two spellings of one label share: accents, case, spaces and punctuation removed."""
    text = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode("ascii")
    key = _NOT_ALNUM.sub("", text.casefold().replace("&", "and"))
    # A label of only symbols or non-Latin script keeps its own (case-folded) text as key.
    return key or value.strip().casefold()


def build_taxonomy(
    tags: Mapping[str, Sequence[str] | str | None],
    artists: Mapping[str, str | None] | None = None,
    config: LabelConfig = LabelConfig(),
    *,
    task: str = "genre",
    with_inputs: Collection[str] | None = None,
) -> Taxonomy:
    """Labels of ``tags`` (track_id -> values of the field); ``with_inputs``: tracks that have inputs."""
    artists = artists or {}
    first: dict[str, str] = {}  # track -> first non-empty spelling
    multi = 0
    for track_id, values in tags.items():
        spellings = [v.strip() for v in ([values] if isinstance(values, str) else values or []) if v and v.strip()]
        if spellings:
            first[track_id] = spellings[0]
            multi += len({label_key(s) for s in spellings}) > 1
    untagged = tuple(sorted(t for t in tags if t not in first))
    missing_inputs = [] if with_inputs is None else [t for t in first if t not in with_inputs]
    usable = {t: s for t, s in first.items() if t not in set(missing_inputs)}

    by_key: dict[str, Counter[str]] = {}
    for spelling in usable.values():
        by_key.setdefault(label_key(spelling), Counter())[spelling] += 1
    shown = {key: min(c, key=lambda s: (-c[s], s)) for key, c in by_key.items()}
    merges = tuple(
        LabelMerge(shown[key], tuple(sorted(c, key=lambda s: (-c[s], s))), sum(c.values()))
        for key, c in sorted(by_key.items(), key=lambda kv: shown[kv[0]])
        if len(c) > 1
    )
    track_labels = {t: shown[label_key(s)] for t, s in usable.items()}
    counts = Counter(track_labels.values())
    excluded = {
        label: f"{n} track(s); a label needs {config.min_tracks_per_label}+ to be both learned and held out"
        for label, n in sorted(counts.items())
        if n < config.min_tracks_per_label
    }
    track_labels = {t: label for t, label in track_labels.items() if label not in excluded}
    kept = {label: n for label, n in sorted(counts.items()) if label not in excluded}
    track_artists = {t: _artist_key(artists.get(t)) for t in track_labels}
    single_artist = tuple(
        label for label in kept
        if len({track_artists[t] or f"track:{t}" for t, lab in track_labels.items() if lab == label}) < 2
    )  # fmt: skip
    report = LabelReport(
        field=config.field,
        n_tracks=len(tags),
        n_tagged=len(first),
        n_multi_valued=multi,
        n_without_inputs=len(missing_inputs),
        merges=merges,
        counts=kept,
        rare={label: n for label, n in kept.items() if n < config.rare_below},
        excluded=excluded,
        single_artist=single_artist,
    )
    if len(kept) < 2:
        reason = (
            f"need at least 2 labels with {config.min_tracks_per_label}+ tracks each in '{config.field}', "
            f"got {len(kept)}" + (f" ({', '.join(kept)})" if kept else "")
        )
        raise NotEnoughData("; ".join([reason, *report.lines()]), report)
    return Taxonomy(task, tuple(kept), track_labels, track_artists, report, untagged)


def _artist_key(artist: str | None) -> str:
    return label_key(artist) if artist and artist.strip() else ""


def load_track_tags(
    con: duckdb.DuckDBPyConnection, field: str = "genres"
) -> tuple[dict[str, list[str]], dict[str, str | None]]:
    """(track_id -> values of ``field``, track_id -> artist) for every live track."""
    columns = {
        name: dtype
        for name, dtype in con.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'live_tracks'"
        ).fetchall()
    }
    if columns.get(field) not in ("VARCHAR", "VARCHAR[]"):
        text_fields = sorted(n for n, t in columns.items() if t in ("VARCHAR", "VARCHAR[]"))
        raise ValueError(f"'{field}' is not a tag field of the library; text fields: {', '.join(text_fields)}")
    rows = con.execute(f'SELECT track_id, "{field}", artist FROM live_tracks ORDER BY track_id').fetchall()
    tags = {t: ([v] if isinstance(v, str) else list(v or [])) for t, v, _ in rows}
    return tags, {t: a for t, _, a in rows}
