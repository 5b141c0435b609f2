"""Broken input gets a clear, recorded error and everything else still goes through."""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb
from fixtures_datasets import (
    SONG_DESCRIBER_HEADER,
    FmaTrack,
    SongDescriberCaption,
    write_audio,
    write_fma,
    write_gtzan,
    write_jamendo_max_caps_parquet,
    write_jsonl,
    write_mtg_jamendo,
    write_song_describer,
)

from melodex_ml.catalog.datasets import fma, gtzan, jamendo_max_caps, song_describer
from melodex_ml.catalog.datasets.records import MAX_TEXT_CHARS, CatalogError, CatalogRecord, Reason
from melodex_ml.catalog.unify import UnifyOptions, export_json, export_parquet, load_records, unify, write_catalog

DDL = Path(__file__).resolve().parent.parent / "sql" / "ddl"


def split(parsed):
    parsed = list(parsed)
    return (
        {p.id: p for p in parsed if isinstance(p, CatalogRecord)},
        [p for p in parsed if isinstance(p, CatalogError)],
    )


def catalog_db() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for name in ("000_meta.sql", "030_dataset_catalog.sql"):
        con.execute((DDL / name).read_text())
    return con


def sd_line(caption_id: int, track_id: int, caption: str, duration: str = "200.0") -> str:
    return f"{caption_id},{track_id},{caption},True,2,7,40,{track_id % 100:02d}/{track_id}.mp3,{duration}\n"


def write_sd_text(root: Path, body: bytes, tracks: list[int]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "song_describer.csv").write_bytes((",".join(SONG_DESCRIBER_HEADER) + "\n").encode() + body)
    for track_id in tracks:
        write_audio(root / "audio" / f"{track_id % 100:02d}" / f"{track_id}.2min.mp3", 0.1)


def test_malformed_csv_rows_are_reported_with_their_line_and_the_rest_is_kept(tmp_path):
    body = (
        sd_line(1, 100, "Good one")  # line 2
        + sd_line(2, 101, "Too many,fields")  # line 3: ten fields
        + sd_line(3, 102, "Bad duration", duration="two hundred")  # line 4
        + '4,103,"unclosed quote,True,2,7,40,03/103.mp3,200.0\n'  # line 5: the quote swallows what follows
        + sd_line(5, 104, "After the bad quote")  # line 6
        + sd_line(6, 105, '"Multi\nline caption"')  # lines 7-8: a legitimate multi-line field
        + "7,106\n"  # line 9: too few fields
        + sd_line(8, 107, "Last")  # line 10
    ).encode()
    write_sd_text(tmp_path, body, [100, 101, 102, 103, 104, 105, 106, 107])
    records, errors = split(song_describer.parse(tmp_path))
    assert set(records) == {f"song_describer_{t}" for t in (100, 104, 105, 107)}
    assert records["song_describer_105"].caption == "Multi\nline caption"
    found = {(e.line, e.reason) for e in errors}
    assert found == {(line, Reason.MALFORMED_ROW) for line in (3, 4, 5, 9)}
    by_line = {e.line: e for e in errors}
    assert "expected 9 fields, found 10" in by_line[3].message
    assert "duration is not a number: 'two hundred'" in by_line[4].message
    assert "quoting" in by_line[5].message and by_line[5].raw.startswith('4,103,"unclosed quote')
    assert all(e.path == str(tmp_path / "song_describer.csv") for e in errors)


def test_hostile_text_survives_duckdb_json_and_parquet_unchanged(tmp_path):
    hostile = 'Robert\'); DROP TABLE dataset_catalog;-- "quoted" \\ back\tslash 🎷 ünïcödé \x00 NUL'
    long_ok = "x" * 5_000
    huge = "y" * (MAX_TEXT_CHARS + 1)
    rows = [
        SongDescriberCaption(1, 100, hostile),
        SongDescriberCaption(2, 101, long_ok),
        SongDescriberCaption(3, 102, huge),
        SongDescriberCaption(5, 104, "z" * 1_000_000),  # beyond what the csv module reads as one field
        SongDescriberCaption(6, 105, "After the megabyte"),
    ]
    write_song_describer(tmp_path, rows)
    # A row with bytes that are not UTF-8 (a Latin-1 "café" and stray 0xFF).
    with open(tmp_path / "song_describer.csv", "ab") as handle:
        handle.write(b"4,103,caf\xe9 \xff noise,True,2,7,40,03/103.mp3,200.0\n")
    write_audio(tmp_path / "audio" / "03" / "103.2min.mp3", 0.1)

    result = unify(UnifyOptions(datasets=["song_describer"], roots={"song_describer": tmp_path}))
    kept = {r.id: r for r in result.records}
    assert kept["song_describer_100"].caption == hostile
    assert kept["song_describer_101"].caption == long_ok
    assert kept["song_describer_105"].caption == "After the megabyte"
    reasons = {e.item: e.reason for e in result.errors}
    assert reasons == {
        "song_describer_102": Reason.MALFORMED_ROW,
        "song_describer.csv:5": Reason.MALFORMED_ROW,
        "song_describer_103": Reason.INVALID_ENCODING,
    }
    assert "field larger than field limit" in next(e.message for e in result.errors if e.line == 5)
    assert len(next(e.raw for e in result.errors if e.line == 5)) < 3_000  # clipped, the file keeps the rest
    encoding_error = next(e for e in result.errors if e.reason == Reason.INVALID_ENCODING)
    assert "\\xe9" in encoding_error.message and "\\xff" in encoding_error.raw  # the bytes are kept, escaped
    assert "the limit is 20,000" in next(e.message for e in result.errors if e.item == "song_describer_102")

    con = catalog_db()
    write_catalog(con, result)
    stored = dict(con.execute("SELECT id, caption FROM dataset_catalog").fetchall())
    expected = {
        "song_describer_100": hostile,
        "song_describer_101": long_ok,
        "song_describer_105": "After the megabyte",
    }
    assert stored == expected
    assert con.execute("SELECT count(*) FROM catalog_errors").fetchone()[0] == 3
    assert {r.caption for r in load_records(export_json(result.records, tmp_path / "c.json"))} == set(expected.values())
    from_parquet = load_records(export_parquet(result.records, tmp_path / "c.parquet"))
    assert {r.caption for r in from_parquet} == set(expected.values())


def test_non_utf8_file_names_are_reported_and_storable(tmp_path):
    folder = write_gtzan(tmp_path / "genres", {"blues": 2})
    odd = os.fsencode(folder / "blues") + b"/caf\xe9.wav"
    write_audio(odd, 0.2)
    result = unify(UnifyOptions(datasets=["gtzan"], roots={"gtzan": tmp_path}))
    assert {r.id for r in result.records} == {"gtzan_blues/blues.00000", "gtzan_blues/blues.00001"}
    [error] = result.errors
    assert error.reason == Reason.INVALID_ENCODING
    assert error.path.endswith("blues/caf\\xe9.wav") and "not valid UTF-8" in error.message
    con = catalog_db()
    write_catalog(con, result)
    assert con.execute("SELECT reason, path FROM catalog_errors").fetchall() == [("invalid_encoding", error.path)]
    failure = error.to_failure_row()  # the same error fits the shared failures table
    con.execute(f"INSERT INTO failures ({', '.join(failure)}) VALUES (?, ?, ?, ?, ?)", list(failure.values()))
    assert con.execute("SELECT stage, error_type, path FROM failures").fetchall() == [
        ("catalog", "invalid_encoding", error.path)
    ]


def test_missing_audio_and_unreadable_duration(tmp_path):
    folder = write_gtzan(tmp_path / "genres", {"jazz": 2})
    (folder / "jazz" / "jazz.00054.wav").write_bytes(b"RIFF\x00\x00garbage, like GTZAN's broken jazz file")
    records, errors = split(gtzan.parse(tmp_path))
    assert len(records) == 2
    assert [(e.item, e.reason) for e in errors] == [("gtzan_jazz/jazz.00054", Reason.UNREADABLE_DURATION)]

    write_fma(tmp_path / "fma", [FmaTrack(2, "Rock", [12]), FmaTrack(3, "Rock", [12])], with_audio={2})
    records, errors = split(fma.parse(tmp_path / "fma"))
    assert set(records) == {"fma_2"}
    assert [(e.item, e.reason) for e in errors] == [("fma_3", Reason.MISSING_AUDIO)]
    assert "fma_small/000/000003.mp3" in errors[0].message


def test_fma_rows_with_broken_values(tmp_path):
    write_fma(tmp_path, [FmaTrack(2, "Rock", [12, 25]), FmaTrack(3, "Rock", [12]), FmaTrack(4, "Rock", [12])])
    path = tmp_path / "fma_metadata" / "tracks.csv"
    text = path.read_text().replace('"[12, 25]"', '"[12, 25"').replace("\n4,", "\nfour,")
    path.write_text(text)
    records, errors = split(fma.parse(tmp_path))
    assert set(records) == {"fma_3"}
    messages = sorted(e.message for e in errors)
    assert all(e.reason == Reason.MALFORMED_ROW for e in errors) and len(errors) == 2
    assert "genres_all is not a list literal" in messages[0] and "track_id is not an integer: 'four'" in messages[1]


def test_mtg_jamendo_bad_rows_and_duplicate_ids(tmp_path):
    write_mtg_jamendo(tmp_path, [(214, 14, 124.6, ["genre---rock"]), (215, 14, 100.0, ["genre---pop"])])
    with open(tmp_path / "autotagging.tsv", "a") as handle:
        handle.write("track_0000216\tartist_000014\n")  # too few fields
        handle.write("track_0000215\tartist_000014\talbum_000001\t15/215.mp3\tlong\tgenre---pop\n")
        handle.write("track_0000214\tartist_000014\talbum_000001\t14/214.mp3\t124.6\tgenre---rock\n")
    result = unify(UnifyOptions(datasets=["mtg_jamendo"], roots={"mtg_jamendo": tmp_path}))
    assert {r.id for r in result.records} == {"mtg_jamendo_214", "mtg_jamendo_215"}
    assert sorted((e.reason, e.line or 0) for e in result.errors) == [
        (Reason.DUPLICATE_ID, 0),
        (Reason.MALFORMED_ROW, 4),
        (Reason.MALFORMED_ROW, 5),
    ]
    assert result.summary.datasets["mtg_jamendo"].errors == {"duplicate_id": 1, "malformed_row": 2}


def test_broken_jsonl_line_and_unreadable_parquet_shard(tmp_path):
    write_audio(tmp_path / "audio" / "1.mp3", 0.1)
    write_audio(tmp_path / "audio" / "2.mp3", 0.1)
    write_jsonl(tmp_path / "a.jsonl", [{"id": "1", "caption": "Fine"}, '{"id": "3", "caption": ', ["not", "a", "dict"]])
    write_jamendo_max_caps_parquet(tmp_path / "b.parquet", [{"id": "2", "caption": "Also fine", "path": "2.mp3"}])
    (tmp_path / "c.parquet").write_bytes(b"PAR1 but not really")
    records, errors = split(jamendo_max_caps.parse(tmp_path))
    assert set(records) == {"jamendo_max_caps_1", "jamendo_max_caps_2"}
    assert sorted((e.item, e.reason) for e in errors) == [
        ("a.jsonl:2", Reason.MALFORMED_ROW),
        ("a.jsonl:3", Reason.MALFORMED_ROW),
        ("c.parquet", Reason.UNREADABLE_METADATA),
    ]
    assert json.loads(json.dumps([e.to_row() for e in errors], default=str))  # storable as text


def test_missing_roots_and_metadata_fail_only_their_dataset(tmp_path):
    write_song_describer(tmp_path / "sd", [SongDescriberCaption(1, 100, "Fine")])
    (tmp_path / "empty").mkdir()
    (tmp_path / "bad_header").mkdir()
    (tmp_path / "bad_header" / "autotagging.tsv").write_text("ID\tWHATEVER\n")
    options = UnifyOptions(
        datasets=["song_describer", "fma", "musiccaps", "mtg_jamendo", "gtzan", "library"],
        roots={
            "song_describer": tmp_path / "sd",
            "fma": tmp_path / "does-not-exist",
            "musiccaps": tmp_path / "empty",
            "mtg_jamendo": tmp_path / "bad_header",
        },
    )
    result = unify(options)
    assert [r.id for r in result.records] == ["song_describer_100"]
    reasons = {e.dataset: e.reason for e in result.errors}
    assert reasons == {
        "fma": Reason.MISSING_ROOT,
        "musiccaps": Reason.MISSING_METADATA,
        "mtg_jamendo": Reason.UNREADABLE_METADATA,
        "gtzan": Reason.MISSING_ROOT,
        "library": Reason.MISSING_ROOT,
    }
    assert result.summary.built == ["song_describer"]
    assert "does-not-exist" in next(e.message for e in result.errors if e.dataset == "fma")
