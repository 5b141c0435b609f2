"""Streaming genre inference: an MFCC CNN champion trained here on three timbres (hum, hiss,
clicks), registered in a real MLflow store, then asked about files it never saw -- through the
library function and through `melodex predict` in a real subprocess.

Ground truth is built into the files: a track that hums for 30 s and then clicks for 30 s must
come out as Hum in its first segment and Clicks in its second.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from test_cli_support import melodex
from test_mfcc_cnn import RATE, _sound

from melodex_ml import experiments, registry
from melodex_ml.inference.adhoc import NoAudio, NoChampion, predict_paths
from melodex_ml.inference.stream import PredictionFailure
from melodex_ml.settings import MelodexSettings
from melodex_ml.training.evaluation_split import make_evaluation_split
from melodex_ml.training.labels import build_taxonomy
from melodex_ml.training.mfcc_cnn import MfccCnnConfig, prepare_mfcc, train_mfcc_cnn
from melodex_ml.training.torch_loop import LoopConfig

KINDS = ("hum", "hiss", "clicks")


def write(path: Path, audio: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, audio.astype(np.float32), RATE)
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A home whose champion is an MFCC CNN that tells the three timbres apart, and files to predict."""
    base = tmp_path_factory.mktemp("predict")
    rng = np.random.default_rng(0)
    paths, tags, artists = {}, {}, {}
    for kind in KINDS:
        for i in range(6):
            track_id = f"{kind}{i}"
            paths[track_id] = write(base / "train" / f"{track_id}.wav", _sound(kind, 15.0, rng))
            tags[track_id], artists[track_id] = [kind.title()], f"{kind} artist {i // 2}"
    config = MfccCnnConfig(loop=LoopConfig(max_epochs=20, batch_size=8, patience=5))
    prepared = prepare_mfcc(paths, config)
    taxonomy = build_taxonomy(tags, artists, with_inputs=prepared.tracks())
    result = train_mfcc_cnn(prepared, taxonomy, make_evaluation_split(taxonomy), config)
    assert result.evaluation.accuracy == 1.0
    settings = MelodexSettings(home=base / "home")
    experiments.log_candidate(result, settings)
    registry.promote_champion(settings)

    files = base / "files"
    shift = write(files / "hum then clicks.wav", np.concatenate([_sound("hum", 30.0, rng), _sound("clicks", 30.0, rng)]))
    short = write(files / "short hiss.wav", _sound("hiss", 10.0, rng))
    broken = files / "broken.wav"
    broken.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 12)
    return settings, shift, short, broken


def lines_of(run) -> tuple[dict[str, object], list[PredictionFailure]]:
    done, failed = {}, []
    for line in run.lines:
        if isinstance(line, PredictionFailure):
            failed.append(line)
        else:
            done[Path(line.audio_file).name] = line
    return done, failed


def test_each_segment_gets_its_own_genre_and_the_track_their_mean(trained):
    settings, shift, short, broken = trained
    run = predict_paths(settings, [shift.parent])
    assert run.champion.candidate == "mfcc-cnn" and len(run.files) == 3
    done, failed = lines_of(run)

    line = done[shift.name]
    assert line.mode == "full-file" and line.total_segments == 2 and line.flags == []
    first, second = line.segments
    assert (first.start_time, first.end_time, second.start_time, second.end_time) == (0.0, 30.0, 30.0, 60.0)
    assert max(first.predictions, key=first.predictions.get) == "Hum"
    assert max(second.predictions, key=second.predictions.get) == "Clicks"
    for label, p in line.global_prediction.all_probabilities.items():
        assert p == pytest.approx((first.predictions[label] + second.predictions[label]) / 2, abs=1e-5)
    assert sum(line.global_prediction.all_probabilities.values()) == pytest.approx(1.0, abs=1e-4)
    assert line.global_prediction.top_labels[0] in {"Hum", "Clicks"}
    # the track embedding is the CNN's penultimate layer, and the model block says so
    assert len(line.embedding) == 64 and line.model["embedding_source"] == "penultimate"
    assert line.model["version"] == run.champion.version and line.model["run_id"] == run.champion.run_id
    assert {"msd-musicnn", "mtt-musicnn"} == set(line.top_tags)
    assert len(line.top_tags["mtt-musicnn"]) == 5
    probabilities = [tag["probability"] for tag in line.top_tags["mtt-musicnn"]]
    assert probabilities == sorted(probabilities, reverse=True)

    # a file shorter than one segment is one short segment, flagged, and still right
    tiny = done[short.name]
    assert tiny.total_segments == 1 and tiny.flags == ["shorter_than_segment"]
    assert tiny.segments[0].end_time == pytest.approx(10.0, abs=1e-3)
    assert tiny.global_prediction.top_labels[0] == "Hiss"

    # an undecodable file is a failure with its reason; the others went on
    (failure,) = failed
    assert failure.path == str(broken) and failure.error_type and failure.message


def test_batches_and_workers_change_nothing_but_speed(trained):
    settings, shift, short, _ = trained
    results = []
    for batch_size, workers in ((1, 0), (16, 0), (3, 2)):
        done, failed = lines_of(predict_paths(settings, [shift, short], batch_size=batch_size, num_workers=workers,
                                              with_tags=False))  # fmt: skip
        assert not failed and set(done) == {shift.name, short.name}
        results.append(done)
    for other in results[1:]:
        for name, line in results[0].items():
            assert np.allclose(line.embedding, other[name].embedding, atol=1e-4)
            for a, b in zip(line.segments, other[name].segments, strict=True):
                assert a.segment_index == b.segment_index
                assert np.allclose(list(a.predictions.values()), list(b.predictions.values()), atol=1e-5)


def test_no_champion_is_one_clear_error(tmp_path):
    clip = write(tmp_path / "clip.wav", _sound("hum", 2.0, np.random.default_rng(1)))
    with pytest.raises(NoChampion, match="run `melodex run`"):
        predict_paths(MelodexSettings(home=tmp_path / "empty"), [clip])
    assert not (tmp_path / "empty").exists()  # asking did not create a store
    (tmp_path / "no-music").mkdir()
    with pytest.raises(NoAudio, match="no audio files in"):
        predict_paths(MelodexSettings(home=tmp_path / "empty"), [tmp_path / "no-music"])


def test_melodex_predict_writes_csv_rows_per_segment_and_draws_the_timeline(trained, tmp_path):
    settings, shift, _, _ = trained
    out, image = tmp_path / "shift.csv", tmp_path / "shift.png"
    done = melodex("predict", str(shift), "--format", "csv", "--output", str(out), "--plot", str(image),
                   home=settings.home)  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [(r["segment_index"], r["top_label"]) for r in rows] == [("0", "Hum"), ("1", "Clicks")]
    assert set(rows[0]) == {"audio_file", "segment_index", "start_time", "end_time", "top_label", "Hum", "Hiss", "Clicks"}
    assert float(rows[0]["Hum"]) == max(float(rows[0][k]) for k in ("Hum", "Hiss", "Clicks"))
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and image.stat().st_size > 10_000
    assert "1 file(s) predicted by" in done.stderr and "mfcc-cnn" in done.stderr
    assert not list(tmp_path.glob(".*.tmp"))


def test_melodex_predict_jsonl_reports_a_bad_file_and_goes_on(trained):
    settings, shift, short, broken = trained
    # two decoding workers, each computing MusiCNN tags inside its own process
    done = melodex("predict", str(shift.parent), "--num-workers", "2", home=settings.home)
    assert done.returncode == 1  # a file failed
    lines = [json.loads(text) for text in done.stdout.splitlines()]
    assert sorted(Path(line["audio_file"]).name for line in lines) == sorted([shift.name, short.name])
    assert all(len(line["top_tags"]["msd-musicnn"]) == 5 for line in lines)
    assert {"audio_file", "mode", "total_segments", "segments", "global_prediction", "embedding", "track_id",
            "model", "top_tags", "flags"} <= set(lines[0])  # fmt: skip
    warnings = [text for text in done.stderr.splitlines() if text.startswith("warning: cannot predict")]
    assert len(warnings) == 1 and str(broken) in warnings[0]
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("case", "code", "message"),
    [
        ("no champion", 2, "no trained genre model in"),
        ("no audio", 1, "no audio files in"),
        ("unwritable output", 2, "cannot write --output: the folder"),
        ("missing path", 2, "no such file or folder"),
    ],
)
def test_melodex_predict_bad_input_is_one_line(trained, tmp_path, case, code, message):
    settings, shift, _, _ = trained
    home, args = settings.home, [str(shift)]
    if case == "no champion":
        home = tmp_path / "fresh"
    elif case == "no audio":
        (tmp_path / "notes").mkdir()
        (tmp_path / "notes" / "readme.txt").write_text("no music here")
        args = [str(tmp_path / "notes")]
    elif case == "unwritable output":
        args += ["--output", str(tmp_path / "missing" / "out.jsonl")]
    else:
        args = [str(tmp_path / "nowhere.wav")]
    done = melodex("predict", *args, home=home)
    assert done.returncode == code
    assert done.stderr.splitlines() == [next(t for t in done.stderr.splitlines() if message in t)], done.stderr
    assert done.stderr.startswith("error: ")
