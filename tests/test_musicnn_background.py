"""MusiCNN in a second process (what `melodex features` runs beside the descriptors): the same numbers as
in-process, bad files as failures, the child's warnings re-emitted here, a dead child as a failure per file."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import soundfile as sf

from melodex_ml.bookkeeping import Failure
from melodex_ml.embeddings.musicnn.background import BackgroundTagging
from melodex_ml.embeddings.musicnn.tagger import MusicnnTagger
from melodex_ml.settings import MelodexSettings


@pytest.fixture
def settings(tmp_path):
    return MelodexSettings(home=tmp_path / "home", workers=1, essentia_models_dir=None)


def write_tone(path, seconds: float = 7.0, rate: int = 22_050):
    t = np.arange(int(seconds * rate)) / rate
    sf.write(path, (0.3 * np.sin(2 * np.pi * 330 * t) * (1 + np.sin(2 * np.pi * 3 * t)) / 2).astype(np.float32), rate)
    return path


def test_same_numbers_as_in_process_bad_files_fail_and_warnings_come_back(settings, tmp_path, caplog):
    good = write_tone(tmp_path / "good.wav")
    bad = tmp_path / "bad.flac"
    bad.write_bytes(b"fLaC" + b"\x00garbage" * 64)
    with caplog.at_level(logging.WARNING), BackgroundTagging([good, bad], settings) as background:
        results = background.results()
    assert sorted(results) == sorted([str(good), str(bad)])
    failure = results[str(bad)]
    assert isinstance(failure, Failure) and (failure.stage, failure.error_type) == ("features", "AudioDecodeError")
    # the tagger's warning about the bad file was logged in the child and handled here
    assert any("MusiCNN failed" in r.getMessage() and str(bad) in r.getMessage() for r in caplog.records)

    local = MusicnnTagger.from_settings(settings).analyse_file(good, key=str(good))
    for model, output in local.outputs.items():
        np.testing.assert_allclose(results[str(good)].outputs[model].tags, output.tags, atol=1e-6)
        np.testing.assert_allclose(results[str(good)].outputs[model].embedding, output.embedding, atol=1e-5)


def test_a_child_that_dies_fails_every_file_with_the_reason(settings, tmp_path):
    files = [write_tone(tmp_path / "a.wav"), write_tone(tmp_path / "b.wav")]
    with BackgroundTagging(files, settings) as background:
        background._process.kill()  # as the out-of-memory killer would
        results = background.results()
    assert sorted(results) == sorted(map(str, files))
    for failure in results.values():
        assert isinstance(failure, Failure) and failure.error_type == "TaggingProcessDied"
        assert "exit code -9" in failure.message
