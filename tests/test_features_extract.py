"""Whole-file extraction: good files, every kind of bad input, and the rows that reach the store."""

import numpy as np
import pytest
import soxr
from test_features_signals import SR, music, stereo, truncate, write

from melodex_ml.features import FEATURES_TABLE, SEGMENTS_TABLE, ExtractorConfig, FeatureFailure
from melodex_ml.features.batch import extract_batch, shared_extractor
from melodex_ml.features.config import EXPECTED_HEADS
from melodex_ml.features.records import Descriptors
from melodex_ml.store import connect, replace_rows


@pytest.fixture(scope="module")
def extractor():
    return shared_extractor(ExtractorConfig())


@pytest.fixture(scope="module")
def song() -> np.ndarray:
    return music(50.0)  # A minor, 120 BPM: two segments (30 s + 20 s)


def codes(result) -> set[str]:
    return {issue.code for issue in result.issues}


def test_track_and_segment_descriptors_of_a_known_signal(tmp_path, extractor, song):
    result = extractor.extract(write(tmp_path / "song.flac", stereo(song), format="FLAC"))
    track = result.track
    assert result.duration_s == pytest.approx(50.0)
    assert track.rhythm.tempo_bpm == pytest.approx(120.0, rel=0.01)
    assert track.rhythm.beat_count == pytest.approx(100, abs=3)
    assert (track.tonality.key, track.tonality.mode) == ("A", "minor")
    assert track.tonality.tuning_hz == pytest.approx(440.0, abs=1.5)
    assert -30 < track.levels.integrated_lufs < -5
    assert track.levels.peak_dbfs == pytest.approx(20 * np.log10(0.5), abs=0.1)
    assert track.rhythm.danceability_dfa > 0 and track.levels.dynamic_complexity >= 0
    assert len(track.timbre.mfcc_mean) == 20 and len(track.tonality.chroma) == 12
    assert [(s.index, s.start_s, round(s.end_s, 3)) for s in result.segments] == [
        (0, 0.0, pytest.approx(30.0, abs=0.01)), (1, pytest.approx(30.0, abs=0.01), 50.0),
    ]  # fmt: skip
    for segment in result.segments:
        assert segment.descriptors.rhythm.tempo_bpm == pytest.approx(120.0, rel=0.02)
        assert segment.descriptors.tonality.key == "A"
    beats = sum(s.descriptors.rhythm.beat_count for s in result.segments)
    assert beats == track.rhythm.beat_count
    assert result.issues == ()
    assert result.heads_unavailable == EXPECTED_HEADS and result.heads == ()  # no models folder configured


def test_rows_match_the_ddl_and_replace_on_rewrite(tmp_path, extractor, song):
    result = extractor.extract(write(tmp_path / "song.wav", stereo(song[: 12 * SR]), subtype="PCM_16"))
    rows = result.rows("track-1")
    with connect(tmp_path / "store.duckdb") as con:
        for _ in range(2):  # the second write replaces the first
            for table, table_rows in rows.items():
                replace_rows(con, table, "track_id", ["track-1"], table_rows)
        columns = {t: [c[0] for c in con.execute(f"DESCRIBE {t}").fetchall()] for t in rows}
        stored = con.execute("SELECT count(*), any_value(tempo_bpm), any_value(chroma) FROM features").fetchone()
        segments = con.execute("SELECT count(*) FROM segment_features").fetchone()[0]
        view = con.execute('SELECT tempo, "key", mode, loudness, duration_ms, energy FROM audio_features').fetchone()
    descriptor_columns = list(Descriptors().columns())
    assert set(rows[FEATURES_TABLE][0]) == set(columns[FEATURES_TABLE]) - {"analyzed_at"}
    assert columns[SEGMENTS_TABLE][4:] == descriptor_columns
    assert [c for c in columns[FEATURES_TABLE] if c in descriptor_columns] == descriptor_columns
    assert set(rows[SEGMENTS_TABLE][0]) == set(columns[SEGMENTS_TABLE])
    assert stored[0] == 1 and stored[1] == pytest.approx(result.track.rhythm.tempo_bpm)
    assert len(stored[2]) == 12 and segments == 1
    assert view == (pytest.approx(stored[1]), 9, 0, pytest.approx(result.track.levels.integrated_lufs), 12_000, None)


def test_silence_is_analysed_with_empty_musical_descriptors(tmp_path, extractor):
    result = extractor.extract(write(tmp_path / "silence.wav", np.zeros((10 * SR, 2), np.float32)))
    assert "silent" in codes(result)
    track = result.track
    assert track.rhythm.tempo_bpm is None and track.rhythm.beat_count == 0
    assert track.tonality.key is None and track.timbre.mfcc_mean is None
    assert track.levels.integrated_lufs is None and track.levels.peak_dbfs is None
    assert track.rhythm.danceability_dfa is None and track.levels.dynamic_complexity is None


def test_dc_offset_is_reported_and_removed(tmp_path, extractor, song):
    result = extractor.extract(write(tmp_path / "dc.wav", (song[: 20 * SR] * 0.5 + 0.3)[:, None], subtype="FLOAT"))
    assert "dc_offset" in codes(result)
    assert result.track.levels.dc_offset == pytest.approx(0.3, abs=0.01)
    assert result.track.rhythm.tempo_bpm == pytest.approx(120.0, rel=0.02)
    assert result.track.tonality.key == "A"


def test_full_scale_clipping_is_reported(tmp_path, extractor, song):
    clipped = stereo(np.clip(song[: 20 * SR] * 3.0, -1.0, 1.0))  # +9.5 dB into a hard limit (left channel)
    result = extractor.extract(write(tmp_path / "clip.wav", clipped, subtype="PCM_16"))
    assert "clipping" in codes(result)
    assert result.track.levels.clipped_ratio == pytest.approx(np.mean(np.abs(clipped) >= 1.0), rel=0.01)
    assert result.track.rhythm.tempo_bpm == pytest.approx(120.0, rel=0.02)


def test_half_second_file(tmp_path, extractor, song):
    result = extractor.extract(write(tmp_path / "short.wav", song[: SR // 2]))
    assert result.duration_s == pytest.approx(0.5)
    assert "too_short" in codes(result)
    assert len(result.segments) == 1 and result.segments[0].end_s == pytest.approx(0.5)
    assert result.track.rhythm.tempo_bpm is None and result.track.rhythm.danceability_dfa is None
    assert result.track.levels.integrated_lufs is not None  # one 400 ms gating block fits
    assert result.track.timbre.spectral_centroid_hz.mean > 0


@pytest.mark.parametrize(
    ("name", "channels", "rate", "subtype"),
    [("mono", 1, SR, "PCM_16"), ("surround", 6, SR, "PCM_24"), ("8k", 2, 8_000, "PCM_16"),
     ("192k", 2, 192_000, "PCM_24"), ("8bit", 2, SR, "PCM_U8"), ("float", 2, SR, "FLOAT")],
)  # fmt: skip
def test_formats_rates_and_layouts_give_the_same_music(tmp_path, extractor, song, name, channels, rate, subtype):
    mono = song[: 20 * SR] if rate == SR else soxr.resample(song[: 20 * SR], SR, rate)
    samples = np.tile(mono[:, None], (1, channels)) * (0.5 if channels == 6 else 1.0)
    result = extractor.extract(write(tmp_path / f"{name}.wav", samples.astype(np.float32), sr=rate, subtype=subtype))
    assert (result.info.channels, result.info.sample_rate) == (channels, rate)
    assert result.track.rhythm.tempo_bpm == pytest.approx(120.0, rel=0.02)
    assert (result.track.tonality.key, result.track.tonality.mode) == ("A", "minor")
    assert ("low_sample_rate" in codes(result)) == (rate < 22_050)


def test_nan_and_inf_samples_are_replaced_and_counted(tmp_path, extractor, song):
    samples = stereo(song[: 10 * SR]).copy()
    samples[1000:1100, 0] = np.nan
    samples[50_000, 1] = np.inf
    result = extractor.extract(write(tmp_path / "nan.wav", samples, subtype="FLOAT"))
    assert result.nonfinite_samples == 101 and "nonfinite_samples" in codes(result)
    assert result.rows("t")[FEATURES_TABLE][0]["nonfinite_samples"] == 101
    assert result.track.rhythm.tempo_bpm == pytest.approx(120.0, rel=0.02)


def test_bad_files_fail_alone_with_a_recorded_reason(tmp_path, song):
    good = write(tmp_path / "good.wav", song[: 5 * SR])
    halfway = truncate(write(tmp_path / "halfway.flac", stereo(song[: 20 * SR]), format="FLAC"))
    garbage = tmp_path / "garbage.mp3"
    garbage.write_bytes(b"\x00\x01 definitely not audio" * 500)
    items = [("a", good), ("b", halfway), ("c", garbage), ("d", tmp_path / "missing.wav"), ("e", good)]
    outcomes = dict(extract_batch(items, ExtractorConfig(), workers=1))
    assert list(outcomes) == ["a", "b", "c", "d", "e"]
    assert not isinstance(outcomes["a"], FeatureFailure) and not isinstance(outcomes["e"], FeatureFailure)
    failures = {k: v for k, v in outcomes.items() if isinstance(v, FeatureFailure)}
    assert set(failures) == {"b", "c", "d"}
    assert "decoding failed at" in failures["b"].message and "halfway.flac" in failures["b"].message
    assert failures["d"].error_type == "AudioDecodeError" and "file not found" in failures["d"].message
    record = failures["b"].as_failure()
    assert (record.stage, record.item, record.path) == ("features", "b", str(halfway))
    with connect(tmp_path / "store.duckdb") as con:  # the shape the failures table expects
        con.execute(
            "INSERT INTO failures (stage, item, path, error_type, message) VALUES (?, ?, ?, ?, ?)",
            [record.stage, record.item, record.path, record.error_type, record.message],
        )
        assert con.execute("SELECT count(*) FROM failures WHERE stage = 'features'").fetchone()[0] == 1
