"""Tempo and key against the demo library's ground truth (synthetic tracks in wav/flac/ogg/mp3)."""

import pytest

from melodex_ml.demo import generate_demo_library
from melodex_ml.features import ExtractorConfig, FeatureResult, extract_batch
from melodex_ml.features.tonal import pitch_class

N_TRACKS = 24  # four of each of the six styles


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    truths = generate_demo_library(root, n_tracks=N_TRACKS, seed=0, duration_range=(20.0, 25.0))
    items = [(t.path, root / t.path) for t in truths]
    outcomes = dict(extract_batch(items, ExtractorConfig(), workers=1))
    return [(t, outcomes[t.path]) for t in truths]


def test_every_demo_track_is_analysed(analysed):
    assert len(analysed) == N_TRACKS
    assert all(isinstance(result, FeatureResult) for _, result in analysed)
    assert {t.format for t, _ in analysed} >= {"wav", "flac", "ogg"}


def test_tempo_within_4_percent_on_90_percent_of_tracks(analysed):
    exact, octave, misses = 0, 0, []
    for truth, result in analysed:
        tempo = result.track.rhythm.tempo_bpm
        ratio = tempo / truth.tempo_bpm if tempo else 0.0
        if abs(ratio - 1) <= 0.04:
            exact += 1
        elif abs(ratio - 2) <= 0.08 or abs(ratio - 0.5) <= 0.02:
            octave += 1
        else:
            misses.append(f"{truth.style} {truth.tempo_bpm} -> {tempo}")
    summary = f"{exact} exact, {octave} double/half, misses: {misses}"
    assert exact >= 0.9 * N_TRACKS, summary
    assert exact + octave >= 0.9 * N_TRACKS, summary


def test_key_and_mode_right_on_80_percent_of_tracks(analysed):
    right = [
        result.track.tonality.key_pitch_class == pitch_class(truth.key) and result.track.tonality.mode == truth.mode
        for truth, result in analysed
    ]
    misses = [
        f"{t.style} {t.key} {t.mode} -> {r.track.tonality.key} {r.track.tonality.mode}"
        for (t, r), ok in zip(analysed, right) if not ok
    ]  # fmt: skip
    assert sum(right) >= 0.8 * N_TRACKS, misses
