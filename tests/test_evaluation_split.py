from collections import Counter

import numpy as np
import pytest

from melodex_ml.training.evaluation_split import SplitConfig, carve_validation, make_evaluation_split, split_hash
from melodex_ml.training.labels import build_taxonomy
from tests.genre_fixtures import blob_library, taxonomy_of


def test_split_holds_out_whole_artists_and_every_label_on_both_sides():
    library = blob_library(artists_per_genre=4, tracks_per_artist=3)
    taxonomy = taxonomy_of(library)
    split = make_evaluation_split(taxonomy, SplitConfig(test_fraction=0.3, seed=7))
    train, test = set(split.train_track_ids), set(split.test_track_ids)
    assert train.isdisjoint(test) and train | test == set(taxonomy.track_labels)
    train_artists = {library.artists[t] for t in train}
    test_artists = {library.artists[t] for t in test}
    assert train_artists.isdisjoint(test_artists) and not split.artists_on_both_sides
    for label in taxonomy.labels:
        assert any(taxonomy.track_labels[t] == label for t in test)
        assert any(taxonomy.track_labels[t] == label for t in train)
    assert set(split.held_out_by.values()) == {"artist"}
    # One artist of four (3 of 12 tracks) per genre is nearest to 30 %.
    assert Counter(taxonomy.track_labels[t] for t in test) == dict.fromkeys(taxonomy.labels, 3)


def test_split_is_deterministic_from_data_and_seed_and_its_hash_names_it():
    library = blob_library()
    taxonomy = taxonomy_of(library)
    a = make_evaluation_split(taxonomy, SplitConfig(seed=1))
    # Same data given in another order: same split.
    shuffled = dict(reversed(list(library.tags.items())))
    b = make_evaluation_split(build_taxonomy(shuffled, library.artists), SplitConfig(seed=1))
    assert a.test_track_ids == b.test_track_ids and a.split_hash == b.split_hash
    assert a.split_hash == split_hash(list(a.train_track_ids), list(a.test_track_ids))
    seeds = {make_evaluation_split(taxonomy, SplitConfig(seed=s)).split_hash for s in range(6)}
    assert len(seeds) > 1


def test_single_artist_label_holds_out_tracks_and_says_so():
    tags = {f"j{i}": ["Jazz"] for i in range(4)} | {f"r{i}": ["Rock"] for i in range(4)}
    artists = {f"j{i}": "Solo Pianist" for i in range(4)} | {f"r{i}": f"Band {i}" for i in range(4)}
    taxonomy = build_taxonomy(tags, artists)
    split = make_evaluation_split(taxonomy, SplitConfig(test_fraction=0.25))
    assert split.held_out_by == {"Jazz": "track", "Rock": "artist"}
    assert any(t.startswith("j") for t in split.test_track_ids) and any(
        t.startswith("j") for t in split.train_track_ids
    )
    assert "solopianist" in split.artists_on_both_sides
    assert any("tracks rather than artists held out for: Jazz" in n for n in split.notes())


def test_two_track_labels_get_one_track_on_each_side():
    tags = {"a": ["Jazz"], "b": ["Jazz"], "c": ["Rock"], "d": ["Rock"], "e": ["Rock"]}
    taxonomy = build_taxonomy(tags, {})
    split = make_evaluation_split(taxonomy, SplitConfig(test_fraction=0.3))
    assert sum(t in split.test_track_ids for t in "ab") == 1
    assert sum(t in split.test_track_ids for t in "cde") == 1


def test_validation_comes_from_train_tracks_only():
    library = blob_library(artists_per_genre=5)
    taxonomy = taxonomy_of(library)
    split = make_evaluation_split(taxonomy)
    fit_ids, val_ids = carve_validation(taxonomy, split, 0.25)
    assert set(fit_ids) | set(val_ids) == set(split.train_track_ids)
    assert not set(val_ids) & set(split.test_track_ids) and not set(fit_ids) & set(val_ids)
    assert {library.artists[t] for t in fit_ids}.isdisjoint({library.artists[t] for t in val_ids})
    assert len(val_ids) > 0


def test_masks_select_rows_of_a_side():
    library = blob_library()
    split = make_evaluation_split(taxonomy_of(library))
    mask = split.test_mask(library.vectors.track_ids)
    assert set(library.vectors.track_ids[mask]) == set(split.test_track_ids)
    assert np.all(mask != split.train_mask(library.vectors.track_ids))


def test_test_fraction_must_be_a_fraction():
    with pytest.raises(ValueError, match="test_fraction"):
        SplitConfig(test_fraction=1.0)
