import random
from collections import Counter, defaultdict

import pytest
from fixtures_datasets import make_record

from melodex_ml.catalog.splits import assign_splits, group_ids

GENRES = ["Rock", "Pop", "Jazz", "Folk", "Electronic"]


def library_like(n_artists=200, per_artist=5):
    """Artists with several tracks each; every artist plays one genre."""
    return [
        make_record(f"{a}-{t}", artist=f"Artist {a}", genres=(GENRES[a % len(GENRES)],))
        for a in range(n_artists)
        for t in range(per_artist)
    ]


def sides(records, key):
    found = defaultdict(set)
    for r in records:
        found[key(r)].add(r.split)
    return found


def test_ratios_and_no_artist_or_track_on_two_sides():
    out = assign_splits(library_like(), seed=0).records
    counts = Counter(r.split for r in out)
    # 1000 records in groups of 5: every split within one group of its target.
    assert abs(counts["train"] - 800) <= 5 and abs(counts["val"] - 100) <= 5 and abs(counts["test"] - 100) <= 5
    assert all(len(s) == 1 for s in sides(out, lambda r: r.artist_key).values())
    assert all(len(s) == 1 for s in sides(out, lambda r: r.track_key).values())


def test_stratified_by_label():
    out = assign_splits(library_like(), seed=0).records
    for genre in GENRES:
        counts = Counter(r.split for r in out if r.genres[0] == genre)
        # 40 artists x 5 tracks per genre: 160 / 20 / 20 give or take one artist.
        assert abs(counts["train"] - 160) <= 5 and abs(counts["val"] - 20) <= 5 and abs(counts["test"] - 20) <= 5


def test_same_track_never_on_two_sides_and_links_are_transitive():
    records = [
        # Song Describer track 214 and its MTG-Jamendo twin, different artists' keys would not matter.
        make_record("214", "song_describer", track_key="jamendo:214"),
        make_record("214", "mtg_jamendo", track_key="jamendo:214", artist_key="jamendo-artist:14"),
        make_record("999", "mtg_jamendo", track_key="jamendo:999", artist_key="jamendo-artist:14"),
        # Two records of one audio file.
        make_record("x", "library", audio_path="/music/x.flac"),
        make_record("x2", "library", audio_path="/music/x.flac"),
        # No artist and nothing shared: a group of its own.
        make_record("alone", "gtzan"),
    ]
    groups = group_ids(records)
    assert groups[0] == groups[1] == groups[2]
    assert groups[3] == groups[4]
    assert len(set(groups)) == 3
    assert len(set(group_ids(records, by_artist=False))) == 4  # without artists, 999 stands alone


def test_records_without_artist_are_grouped_by_track_only():
    records = [make_record(f"{i}", "gtzan", genres=("blues",)) for i in range(100)]
    out = assign_splits(records, seed=1).records
    assert Counter(r.split for r in out) == {"train": 80, "val": 10, "test": 10}


def test_artist_grouping_can_be_turned_off():
    records = [make_record(f"{i}", artist="Prolific") for i in range(50)]
    assert {r.split for r in assign_splits(records).records} == {"train"}
    assert {r.split for r in assign_splits(records, by_artist=False).records} == {"train", "val", "test"}


def test_deterministic_and_independent_of_input_order():
    records = library_like(60, 3)
    first = {r.id: r.split for r in assign_splits(records, seed=5).records}
    shuffled = records[:]
    random.Random(3).shuffle(shuffled)
    assert {r.id: r.split for r in assign_splits(shuffled, seed=5).records} == first
    assert {r.id: r.split for r in assign_splits(records, seed=6).records} != first


def test_official_splits_are_respected_and_pull_their_group_along():
    records = [make_record(f"o{i}", official_split="test", artist=f"A{i}") for i in range(10)]
    records += [make_record(f"p{i}", official_split="val", artist=f"B{i}") for i in range(10)]
    # Same artist as an official test track, but no official split of its own.
    records.append(make_record("follower", "library", artist="A0"))
    records += [make_record(f"n{i}", "library", artist=f"C{i}") for i in range(80)]
    out = {r.id: r.split for r in assign_splits(records, use_official=True).records}
    assert all(out[f"fma_o{i}"] == "test" for i in range(10))
    assert all(out[f"fma_p{i}"] == "val" for i in range(10))
    assert out["library_follower"] == "test"
    # The rest fill train up to its share: 80 of 101 records are in train, none of the rest in test.
    assert Counter(out[f"library_n{i}"] for i in range(80)) == {"train": 80}


def test_conflicting_official_splits_in_one_group_are_counted():
    records = [
        make_record("1", official_split="train", artist="Same"),
        make_record("2", official_split="test", artist="Same"),
        make_record("3", official_split="test", artist="Same"),
    ]
    outcome = assign_splits(records, use_official=True)
    assert outcome.official_conflicts == 1 and {r.split for r in outcome.records} == {"test"}


def test_bad_ratios_are_rejected():
    with pytest.raises(ValueError, match="ratios"):
        assign_splits(library_like(2, 1), ratios=(0.8, 0.3, 0.1))
