"""Batches across worker processes, crash isolation, and the `melodex features` report."""

import csv
import io
import json
import os
from pathlib import Path

import pytest
from test_features_signals import music, stereo, truncate, write

from melodex_ml.features import ExtractorConfig, FeatureFailure, FeatureResult
from melodex_ml.features import batch
from melodex_ml.audio.files import audio_files
from melodex_ml.features.report import analyze_paths
from melodex_ml.settings import MelodexSettings


def crash_on_request(track_id: str, path: Path):
    """Runs in a worker: dies like a segfaulting decoder would on files named 'crash*'."""
    if Path(path).name.startswith("crash"):
        os._exit(11)
    return batch._work(track_id, path)


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    folder = tmp_path_factory.mktemp("library")
    song = music(8.0)
    write(folder / "a.wav", stereo(song))
    write(folder / "b.flac", song, format="FLAC")
    truncate(write(folder / "broken.flac", stereo(music(20.0)), format="FLAC"))
    write(folder / "crash.wav", song)
    (folder / "notes.txt").write_text("not audio, not listed")
    return folder


@pytest.mark.parametrize(
    ("order", "workers"),
    [(("a", "broken", "crash"), 1), (("crash", "a", "b", "broken"), 2)],
    ids=["crash-alone-in-flight", "crash-among-others"],
)
def test_worker_processes_isolate_a_crashing_file(library, order, workers):
    files = {p.stem: p for p in library.glob("*.*")}
    outcomes = dict(batch._parallel([(k, files[k]) for k in order], ExtractorConfig(), workers, work=crash_on_request))
    assert set(outcomes) == set(order)
    assert all(isinstance(outcomes[k], FeatureResult) for k in order if k in ("a", "b"))
    assert outcomes["a"].track.rhythm.tempo_bpm == pytest.approx(120.0, rel=0.02)
    assert isinstance(outcomes["broken"], FeatureFailure) and "decoding failed" in outcomes["broken"].message
    crashed = outcomes["crash"]
    assert isinstance(crashed, FeatureFailure) and crashed.error_type == "WorkerCrashed"
    assert "crash.wav" in crashed.message


def test_audio_files_walks_folders_and_keeps_named_files(library, tmp_path):
    named = tmp_path / "missing.mp3"
    found = audio_files([library, named])
    assert [p.name for p in found] == ["a.wav", "b.flac", "broken.flac", "crash.wav", "missing.mp3"]


@pytest.fixture(scope="module")
def report_settings(tmp_path_factory):
    return MelodexSettings(home=tmp_path_factory.mktemp("home"), workers=1, essentia_models_dir=None)


def test_report_formats(library, tmp_path, report_settings, capsys):
    paths = [library / "a.wav", library / "broken.flac"]
    outcomes = analyze_paths(paths, fmt="json", output=tmp_path / "out.json", settings=report_settings)
    assert [type(o).__name__ for _, o in outcomes] == ["FeatureResult", "FeatureFailure"]
    records = json.loads((tmp_path / "out.json").read_text())
    assert records[0]["features"]["tempo_bpm"] == pytest.approx(120.0, rel=0.02)
    assert records[0]["segments"][0]["end_s"] == pytest.approx(8.0)
    assert records[1]["error"]["type"] == "AudioDecodeError"
    # MusiCNN's view of the file: 50 tag probabilities per network, the 200-d msd-musicnn embedding
    tags = records[0]["tags"]
    assert sorted(tags) == ["msd-musicnn", "mtt-musicnn"] and all(len(t) == 50 for t in tags.values())
    assert all(0.0 <= p <= 1.0 for t in tags.values() for p in t.values())
    assert len(records[0]["embeddings"]["msd-musicnn"]) == 200

    analyze_paths(paths, fmt="csv", output=tmp_path / "out.csv", settings=report_settings)
    rows = list(csv.DictReader(io.StringIO((tmp_path / "out.csv").read_text())))
    assert [r["path"] for r in rows] == [str(p) for p in paths]
    assert float(rows[0]["duration_s"]) == pytest.approx(8.0) and len(json.loads(rows[0]["mfcc_mean"])) == 20
    assert rows[1]["error_type"] == "AudioDecodeError" and rows[1]["tempo_bpm"] == ""
    assert len(json.loads(rows[0]["top_tags"])) == 5

    analyze_paths(paths, fmt="table", settings=report_settings)
    table = capsys.readouterr().out
    assert "a.wav" in table and "A minor" in table and "AudioDecodeError" in table
