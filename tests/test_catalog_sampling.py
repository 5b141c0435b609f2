import random
from collections import Counter

import pytest
from fixtures_datasets import make_record

from melodex_ml.catalog.sampling import balanced_quotas, duration_bin, filter_duration, select


def population():
    records = [make_record(f"a{i}", "song_describer", duration=20.0 + i) for i in range(5)]
    records += [make_record(f"b{i}", "fma", duration=30.0) for i in range(100)]
    records += [make_record(f"c{i}", "mtg_jamendo", duration=100.0 + i) for i in range(100)]
    return records


def test_duration_filter_is_inclusive_and_returns_what_it_dropped():
    records = [make_record(str(s), duration=float(s)) for s in (5, 10, 60, 300, 301)]
    kept, dropped = filter_duration(records, min_duration=10, max_duration=300)
    assert [r.duration for r in kept] == [10.0, 60.0, 300.0]
    assert [r.duration for r in dropped] == [5.0, 301.0]
    assert filter_duration(records) == (records, [])


def test_random_selection_is_reproducible_whatever_the_input_order():
    records = population()
    first = [r.id for r in select(records, max_samples=20, seed=7)]
    shuffled = records[:]
    random.Random(1).shuffle(shuffled)
    assert [r.id for r in select(shuffled, max_samples=20, seed=7)] == first
    assert len(first) == 20 and first == sorted(first)
    assert [r.id for r in select(records, max_samples=20, seed=8)] != first
    # A larger sample under the same seed contains the smaller one.
    assert set(first) <= {r.id for r in select(records, max_samples=40, seed=7)}


def test_balanced_quotas():
    assert balanced_quotas({"a": 5, "b": 100, "c": 100}, 65) == {"a": 5, "b": 30, "c": 30}
    assert balanced_quotas({"a": 10, "b": 10}, 7) == {"a": 4, "b": 3}
    assert balanced_quotas({"a": 2, "b": 3}, 100) == {"a": 2, "b": 3}
    assert balanced_quotas({"a": 0, "b": 3}, 2) == {"a": 0, "b": 2}


def test_stratified_by_dataset_balances_datasets():
    chosen = select(population(), max_samples=65, stratify_by="dataset", seed=1)
    assert Counter(r.dataset for r in chosen) == {"song_describer": 5, "fma": 30, "mtg_jamendo": 30}


def test_stratified_by_duration_balances_bins():
    records = [make_record(f"s{i}", duration=10.0) for i in range(50)]
    records += [make_record(f"m{i}", duration=100.0) for i in range(50)]
    records += [make_record(f"l{i}", duration=300.0) for i in range(5)]
    chosen = select(records, max_samples=35, stratify_by="duration", seed=3)
    assert Counter(duration_bin(r.duration) for r in chosen) == {"<60s": 15, "60-240s": 15, ">=240s": 5}
    assert duration_bin(60.0) == "60-240s" and duration_bin(59.9) == "<60s" and duration_bin(240.0) == ">=240s"


def test_per_dataset_caps_then_global_maximum():
    chosen = select(population(), samples_per_dataset=10, seed=2)
    assert Counter(r.dataset for r in chosen) == {"song_describer": 5, "fma": 10, "mtg_jamendo": 10}
    chosen = select(population(), samples_per_dataset=10, dataset_caps={"fma": 3}, seed=2)
    assert Counter(r.dataset for r in chosen) == {"song_describer": 5, "fma": 3, "mtg_jamendo": 10}
    chosen = select(population(), samples_per_dataset=10, max_samples=12, stratify_by="dataset", seed=2)
    assert Counter(r.dataset for r in chosen) == {"song_describer": 4, "fma": 4, "mtg_jamendo": 4}


def test_unknown_strategy_is_rejected():
    with pytest.raises(ValueError, match="stratify_by"):
        select(population(), max_samples=3, stratify_by="genre")
