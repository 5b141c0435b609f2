from collections import Counter

import numpy as np
import pytest
import soundfile as sf

from melodex_ml.demo import STYLES, generate_demo_library
from melodex_ml.training.benchmark import LabelledFolder, demo_folder, gtzan_folder, run_benchmark, tag_share


def test_gtzan_folders_give_one_label_per_genre_folder(tmp_path):
    for genre in ("blues", "metal"):
        (tmp_path / "genres" / genre).mkdir(parents=True)
        for i in range(2):
            sf.write(tmp_path / "genres" / genre / f"{genre}.{i:05d}.wav", np.zeros(800, np.float32), 8000)
    (tmp_path / "genres" / "metal" / "notes.txt").write_text("not audio")
    folder = gtzan_folder(tmp_path)
    assert sorted(folder.tracks) == ["blues/blues.00000.wav", "blues/blues.00001.wav",
                                     "metal/metal.00000.wav", "metal/metal.00001.wav"]  # fmt: skip
    assert set(folder.labels.values()) == {"blues", "metal"} and set(folder.artists.values()) == {None}


def test_tag_share_tags_that_share_of_every_label_deterministically():
    labels = {f"{g}{i}": g for g in ("a", "b") for i in range(7)} | {"c0": "c", "c1": "c"}
    folder = LabelledFolder(None, dict.fromkeys(labels), labels, {})
    tags = tag_share(folder, 0.5, seed=3)
    assert Counter(v[0] for v in tags.values() if v) == {"a": 4, "b": 4, "c": 1}  # round(3.5) = 4
    assert tags == tag_share(folder, 0.5, seed=3) and tags != tag_share(folder, 0.5, seed=4)
    assert all(v for v in tag_share(folder, 1.0, seed=3).values())


@pytest.mark.slow
def test_half_tagged_demo_library_predicts_the_untagged_half(tmp_path):
    """The target of the models issue on the demo styles: >= 95 % of untagged tracks right."""
    root = tmp_path / "demo"
    generate_demo_library(root, n_tracks=6 * len(STYLES), seed=1, duration_range=(20.0, 32.0))
    rows, results = run_benchmark(demo_folder(root), tagged_fraction=0.5, seed=5)
    assert [r.candidate for r in rows] == ["descriptor-logreg", "mfcc-cnn"]
    for row in rows:
        assert row.n_untagged == 18
        assert row.untagged_accuracy >= 0.95, row
    # Both were scored on the same held-out tracks.
    assert len({r.split.split_hash for r in results}) == 1
    assert all(r.evaluation.n_test_tracks == results[0].evaluation.n_test_tracks for r in results)
