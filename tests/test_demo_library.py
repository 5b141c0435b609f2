"""The demo library: files, tags, determinism, and ground truth that is physically in the audio."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import librosa
import mutagen
import numpy as np
import pytest
import soundfile as sf

from melodex_ml.demo import (
    PITCH_CLASSES,
    STYLES,
    DemoTrackTruth,
    available_formats,
    generate_demo_library,
    load_defects,
    load_ground_truth,
    plan_demo_library,
)

SEED = 7
N_TRACKS = 8  # one per style plus two: with the per-style format rotation, every format appears
DURATIONS = (10.0, 13.0)  # shortest allowed: 3 bars at 85 BPM plus a ring-out

# Krumhansl-Kessler probe-tone profiles, tonic first.
KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[DemoTrackTruth]]:
    root = tmp_path_factory.mktemp("demo")
    return root, generate_demo_library(root, N_TRACKS, SEED, duration_range=DURATIONS, with_defects=True)


@pytest.fixture(scope="module")
def decoded(library: tuple[Path, list[DemoTrackTruth]]) -> dict[str, np.ndarray]:
    root, truth = library
    return {t.path: sf.read(root / t.path, dtype="float32")[0] for t in truth}


def read_tags(path: Path, fmt: str) -> dict[str, str]:
    audio = mutagen.File(path)
    if fmt in ("flac", "ogg"):
        return {k: audio[k][0] for k in ("title", "artist", "album", "genre", "tracknumber", "date")}
    frames = {"title": "TIT2", "artist": "TPE1", "album": "TALB", "genre": "TCON", "tracknumber": "TRCK",
              "date": "TDRC"}
    return {k: str(audio.tags[frame].text[0]) for k, frame in frames.items()}


def test_sidecar_lists_every_style_and_format(library):
    root, truth = library
    assert load_ground_truth(root) == truth
    assert {t.style for t in truth} == set(STYLES)
    assert {t.format for t in truth} == set(available_formats()) >= {"wav", "flac", "ogg"}
    for t in truth:
        assert t.path.endswith("." + t.format) and (root / t.path).is_file()
        assert t.key in PITCH_CLASSES and t.mode in ("major", "minor")
        assert 80 <= t.tempo_bpm <= 160 and DURATIONS[0] <= t.duration_s <= DURATIONS[1]
    sidecar = json.loads((root / "ground_truth.json").read_text())
    assert sidecar["generator"]["seed"] == SEED and len(sidecar["tracks"]) == N_TRACKS


def test_files_decode_as_stereo_44k_with_the_stated_duration(library, decoded):
    root, truth = library
    for t in truth:
        info = sf.info(root / t.path)
        assert (info.samplerate, info.channels) == (44_100, 2), t.path
        assert decoded[t.path].shape[0] / 44_100 == pytest.approx(t.duration_s, abs=1e-3), t.path
        assert 0.05 < np.abs(decoded[t.path]).max() < 1.0, t.path  # audible, not clipped


def test_tags_match_the_sidecar(library):
    root, truth = library
    for t in truth:
        expected = {"title": t.title, "artist": t.artist, "album": t.album, "genre": t.genre,
                    "tracknumber": str(t.track_number), "date": str(t.year)}
        assert read_tags(root / t.path, t.format) == expected, t.path
    assert {t.genre for t in truth} == {s.title() for s in STYLES}


def test_same_seed_gives_the_same_library_and_another_seed_does_not(library, decoded, tmp_path):
    root, truth = library
    again = generate_demo_library(tmp_path / "again", N_TRACKS, SEED, duration_range=DURATIONS,
                                  with_defects=True, workers=1)
    assert again == truth
    sidecar = "ground_truth.json"
    assert (tmp_path / "again" / sidecar).read_bytes() == (root / sidecar).read_bytes()
    for t in truth:
        samples = sf.read(tmp_path / "again" / t.path, dtype="float32")[0]
        assert np.array_equal(samples, decoded[t.path]), t.path

    other = generate_demo_library(tmp_path / "other", 2, SEED + 1, duration_range=DURATIONS)
    assert [(o.style, o.format) for o in other] == [(t.style, t.format) for t in truth[:2]]
    for o, t in zip(other, truth):
        assert (o.title, o.tempo_bpm, o.key, o.mode) != (t.title, t.tempo_bpm, t.key, t.mode)
        samples = sf.read(tmp_path / "other" / o.path, dtype="float32")[0]
        assert samples.shape != decoded[t.path].shape or not np.allclose(samples, decoded[t.path])


def test_existing_library_is_reused_and_a_changed_one_replaced(tmp_path):
    root = tmp_path / "lib"
    first = generate_demo_library(root, 2, SEED, duration_range=DURATIONS)
    stamps = {t.path: (root / t.path).stat().st_mtime_ns for t in first}
    assert generate_demo_library(root, 2, SEED, duration_range=DURATIONS) == first
    assert {t.path: (root / t.path).stat().st_mtime_ns for t in first} == stamps

    (root / "my own song.flac").write_bytes(b"not ours")  # a user's file must survive
    second = generate_demo_library(root, 2, SEED + 1, duration_range=DURATIONS)
    assert load_ground_truth(root) == second
    assert not any((root / t.path).exists() for t in first if t.path not in {s.path for s in second})
    assert (root / "my own song.flac").read_bytes() == b"not ours"


def test_defects_are_listed_and_unreadable(library):
    root, truth = library
    defects = load_defects(root)
    assert {d.kind for d in defects} == {"empty", "not_audio", "truncated"}
    assert not {d.path for d in defects} & {t.path for t in truth}
    for d in defects:
        assert (root / d.path).is_file()
        with pytest.raises(sf.LibsndfileError):
            sf.read(root / d.path)


def test_stated_tempo_is_what_a_beat_tracker_hears(library, decoded):
    _, truth = library
    for t in truth:
        y = librosa.resample(decoded[t.path].mean(axis=1), orig_sr=44_100, target_sr=22_050)
        tempo, _ = librosa.beat.beat_track(y=y, sr=22_050)
        assert float(np.atleast_1d(tempo)[0]) == pytest.approx(t.tempo_bpm, rel=0.04), t


def test_stated_key_is_the_best_krumhansl_match_of_the_chroma(library, decoded):
    _, truth = library
    for t in truth:
        y = librosa.resample(decoded[t.path].mean(axis=1), orig_sr=44_100, target_sr=22_050)
        profile = librosa.feature.chroma_cqt(y=y, sr=22_050).mean(axis=1)
        scores = {(PITCH_CLASSES[tonic], mode): np.corrcoef(profile, np.roll(template, tonic))[0, 1]
                  for mode, template in (("major", KK_MAJOR), ("minor", KK_MINOR)) for tonic in range(12)}
        assert max(scores, key=scores.get) == (t.key, t.mode), t


def test_a_full_library_covers_all_keys_and_shares_artists():
    truth = plan_demo_library(60, seed=0)
    assert len({(t.key, t.mode) for t in truth}) == 24
    by_style = {style: [t for t in truth if t.style == style] for style in STYLES}
    for style, tracks in by_style.items():
        artists = Counter(t.artist for t in tracks)
        assert 2 <= len(artists) <= 3 and min(artists.values()) >= 2, style
        assert {t.format for t in tracks} == set(available_formats()), style  # codec is no genre proxy
    assert len({t.path for t in truth}) == 60
    assert [t.tempo_bpm for t in plan_demo_library(60, seed=1)] != [t.tempo_bpm for t in truth]


def test_rejects_durations_too_short_for_a_cadence(tmp_path):
    with pytest.raises(ValueError, match="duration_range"):
        generate_demo_library(tmp_path, 1, duration_range=(3.0, 5.0))
    with pytest.raises(ValueError, match="duration_range"):
        generate_demo_library(tmp_path, 1, duration_range=(30.0, 20.0))
    assert not (tmp_path / "ground_truth.json").exists()
