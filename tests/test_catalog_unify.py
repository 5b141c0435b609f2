"""End to end: several datasets -> one catalog in DuckDB, JSON and Parquet."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fixtures_datasets import (
    FmaTrack,
    SongDescriberCaption,
    write_audio,
    write_fma,
    write_gtzan,
    write_mtg_jamendo,
    write_song_describer,
)

from melodex_ml.catalog.unify import (
    UnifyOptions,
    export_json,
    export_parquet,
    format_summary,
    load_records,
    unify,
    write_catalog,
)

DDL = Path(__file__).resolve().parent.parent / "sql" / "ddl"
GENRES = ["Rock", "Electronic", "Hip-Hop"]


@pytest.fixture
def roots(tmp_path):
    write_song_describer(
        tmp_path / "sd",
        [SongDescriberCaption(i, 1000 + i, f"Human caption {i}", artist_id=i % 4) for i in range(12)]
        + [SongDescriberCaption(99, 214, "The twin of an MTG track", artist_id=14)],
    )
    write_fma(
        tmp_path / "fma",
        [
            # Like FMA's own split, every artist's tracks share one side.
            FmaTrack(
                i,
                GENRES[i % 3],
                [12],
                artist=f"FMA artist {i % 10}",
                split=("training", "validation", "test")[i % 10 % 3],
            )
            for i in range(1, 31)
        ],
        audio_seconds=0.3,
    )
    write_mtg_jamendo(tmp_path / "mtg", [(214, 14, 124.6, ["genre---rock", "instrument---piano"])])
    write_gtzan(tmp_path / "gtzan" / "genres", {"blues": 4, "jazz": 4}, seconds=0.2)
    return {
        "song_describer": tmp_path / "sd",
        "fma": tmp_path / "fma",
        "mtg_jamendo": tmp_path / "mtg",
        "gtzan": tmp_path / "gtzan",
    }


def catalog_db() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for name in ("000_meta.sql", "030_dataset_catalog.sql", "030_dataset_catalog.sql"):  # twice: idempotent DDL
        con.execute((DDL / name).read_text())
    return con


def test_unify_combines_datasets_and_keeps_twins_together(roots):
    result = unify(UnifyOptions(datasets=list(roots), roots=roots, seed=3))
    assert result.errors == []
    assert Counter(r.dataset for r in result.records) == {"song_describer": 13, "fma": 30, "mtg_jamendo": 1, "gtzan": 8}
    assert [r.id for r in result.records] == sorted(r.id for r in result.records)
    by_id = {r.id: r for r in result.records}
    assert by_id["song_describer_214"].split == by_id["mtg_jamendo_214"].split
    for key in ("artist_key", "track_key"):
        groups: dict[str, set[str]] = {}
        for r in result.records:
            if getattr(r, key):
                groups.setdefault(getattr(r, key), set()).add(r.split)
        assert all(len(s) == 1 for s in groups.values())
    assert {r.split for r in result.records} == {"train", "val", "test"}


def test_options_reach_filters_sampling_and_official_splits(roots):
    # FMA clips are 0.3 s, GTZAN 0.2 s: a 0.25 s minimum drops GTZAN.
    options = UnifyOptions(
        datasets=["fma", "gtzan"],
        roots=roots,
        min_duration=0.25,
        max_samples=12,
        stratify_by="dataset",
        use_official_splits=True,
    )
    result = unify(options)
    assert Counter(r.dataset for r in result.records) == {"fma": 12}
    assert result.summary.datasets["gtzan"].outside_duration == 8
    assert all(r.split == r.official_split for r in result.records) and result.summary.official_conflicts == 0
    capped = unify(UnifyOptions(datasets=list(roots), roots=roots, samples_per_dataset=2, seed=1))
    assert Counter(r.dataset for r in capped.records) == {"song_describer": 2, "fma": 2, "mtg_jamendo": 1, "gtzan": 2}


def test_write_catalog_is_typed_idempotent_and_replaces_only_built_datasets(roots):
    con = catalog_db()
    result = unify(UnifyOptions(datasets=list(roots), roots=roots))
    assert write_catalog(con, result) == len(result.records) == 52
    assert write_catalog(con, result) == 52
    assert con.execute("SELECT count(*) FROM dataset_catalog").fetchone()[0] == 52
    types = dict(
        con.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'dataset_catalog'"
        ).fetchall()
    )
    assert types["alt_captions"] == types["tags"] == types["genres"] == "VARCHAR[]"
    assert types["duration"] == "DOUBLE"
    alt = con.execute("SELECT alt_captions FROM dataset_catalog WHERE id = 'song_describer_1000'").fetchone()[0]
    assert alt == []

    # A rebuild with fewer FMA tracks and a vanished GTZAN root: FMA replaced, GTZAN kept, error stored.
    shutil.rmtree(roots["gtzan"])
    smaller = unify(UnifyOptions(datasets=["fma", "gtzan"], roots=roots, samples_per_dataset=5))
    write_catalog(con, smaller)
    counts = dict(con.execute("SELECT dataset, count(*) FROM dataset_catalog GROUP BY dataset").fetchall())
    assert counts == {"song_describer": 13, "fma": 5, "mtg_jamendo": 1, "gtzan": 8}
    assert con.execute("SELECT dataset, reason FROM catalog_errors").fetchall() == [("gtzan", "missing_root")]


def test_dry_run_reports_without_writing(roots):
    con = catalog_db()
    (roots["song_describer"] / "audio" / "00" / "1000.2min.mp3").unlink()
    result = unify(UnifyOptions(datasets=["song_describer", "fma", "musiccaps"], roots=roots, dry_run=True))
    assert write_catalog(con, result) == 0
    assert con.execute("SELECT count(*) FROM dataset_catalog").fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM catalog_errors").fetchone()[0] == 0
    text = format_summary(result)
    fma = result.summary.datasets["fma"]
    assert text.startswith("Dry run, nothing written. Would build 42 records from 2 of 3 datasets")
    assert f"fma: 30 selected of 30 valid - train {fma.splits['train']} / val {fma.splits['val']}" in text
    assert "song_describer: missing_audio 1" in text
    assert "musiccaps: FAILED - musiccaps: no root configured" in text


def test_exports_round_trip_in_the_reference_json_shape(roots, tmp_path):
    result = unify(UnifyOptions(datasets=list(roots), roots=roots))
    path = export_json(result.records, tmp_path / "out" / "unified.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(data, list) and len(data) == 52
    reference_fields = {
        "id",
        "audio_path",
        "caption",
        "alt_captions",
        "duration",
        "dataset",
        "artist",
        "title",
        "tags",
        "license",
    }
    assert reference_fields <= set(data[0])
    assert load_records(path) == result.records
    parquet = export_parquet(result.records, tmp_path / "out" / "unified.parquet")
    schema = pq.read_schema(parquet)
    assert pa.types.is_list(schema.field("genres").type) and pa.types.is_float64(schema.field("duration").type)
    assert load_records(parquet) == result.records
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["unified.json", "unified.parquet"]  # no temp files


def test_library_tracks_join_the_catalog(tmp_path):
    audio = write_audio(tmp_path / "song.flac", 0.3)
    rows = [
        {
            "track_id": 7,
            "path": str(audio),
            "title": "T",
            "artist": "Me",
            "album": None,
            "genres": ["Jazz"],
            "duration_s": 200.0,
        }
    ]
    result = unify(UnifyOptions(datasets=["library"]), library_tracks=rows)
    [record] = result.records
    assert (record.id, record.caption, record.genres, record.duration) == (
        "library_7",
        "A Jazz track",
        ("Jazz",),
        200.0,
    )


def test_options_are_validated_and_normalised(tmp_path):
    options = UnifyOptions(datasets=["fma", "fma"], roots={"fma": str(tmp_path)})
    assert options.datasets == ["fma"] and options.roots["fma"] == tmp_path
    with pytest.raises(ValueError, match="unknown dataset"):
        UnifyOptions(datasets=["fmaa"])
    with pytest.raises(ValueError, match="ratios"):
        UnifyOptions(datasets=["fma"], split_ratios=(0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match="stratify_by"):
        UnifyOptions(datasets=["fma"], stratify_by="genre")
    with pytest.raises(ValueError, match="min_duration"):
        UnifyOptions(datasets=["fma"], min_duration=10, max_duration=5)
