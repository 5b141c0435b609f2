"""Terminal output is data: hostile tags and paths print literally through run, scan, status and sql;
`melodex sql` shows whole values, rounds floats, names all-NULL columns with the view's documented
reason, refuses writes, and its CSV/JSON are the stored values exactly."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import mutagen
import pytest
from mutagen.id3 import ID3, TIT2, TPE1
from test_cli_support import melodex, query

from dagster_project.cli.tables import format_float
from dagster_project.cli.terminal import printable
from dagster_project.cli.view_docs import documented_null_reasons, parse_null_reasons
from melodex_ml.demo import generate_demo_library
from melodex_ml.store.migrations import sql_root

INTRO = "Intro [/b] (Live)"
SONG = "Song [live]"
ANSI_ARTIST = "\x1b[31mRed\x1b[0m Artist"


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def retag(path: Path, *, title: str, artist: str) -> None:
    audio = mutagen.File(path, easy=True)
    if isinstance(audio.tags, ID3):  # WAV and AIFF carry plain ID3 frames (no "easy" keys)
        audio.tags.setall("TIT2", [TIT2(encoding=3, text=[title])])
        audio.tags.setall("TPE1", [TPE1(encoding=3, text=[artist])])
    else:
        audio["title"], audio["artist"] = [title], [artist]
    audio.save()


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """Two demo tracks retagged with markup-like titles and an ANSI escape, under a folder path
    that contains "[/]"; then `melodex run` on it (with MELODEX_DEVICE=cuda where there is none)."""
    base = tmp_path_factory.mktemp("hostile")
    root = base / "Live [" / "] Set"  # the path .../Live [/] Set/...
    truth = generate_demo_library(root, n_tracks=2, duration_range=(20.0, 21.0))
    titles = {truth[0].path: INTRO, truth[1].path: SONG}
    for relative, title in titles.items():
        retag(root / relative, title=title, artist=ANSI_ARTIST)
    home = base / "home"
    device = {} if cuda_available() else {"MELODEX_DEVICE": "cuda"}
    done = melodex("run", home=home, MELODEX_LIBRARY_ROOTS=str(root), **device)
    return home, root, done, bool(device)


def test_run_prints_hostile_tags_literally(hostile):
    home, root, done, _ = hostile
    assert done.returncode == 0, done.stdout + done.stderr
    assert INTRO in done.stdout and SONG in done.stdout
    assert printable(ANSI_ARTIST) in done.stdout  # shown as \x1b[31mRed\x1b[0m Artist
    assert "\x1b" not in done.stdout and "\x1b" not in done.stderr
    assert "Traceback" not in done.stderr


def test_cuda_requested_without_cuda_is_one_warning_and_cpu_stages_run(hostile):
    home, root, done, asked_cuda = hostile
    if not asked_cuda:
        pytest.skip("this machine has CUDA")
    assert done.returncode == 0
    mentions = [text for text in (done.stdout + done.stderr).splitlines() if "CUDA" in text]
    assert len(mentions) == 1 and mentions[0].startswith("warning: MELODEX_DEVICE=cuda"), mentions
    # features are CPU-only: both tracks analysed; the model stages skipped, saying why
    assert query(home, "SELECT count(*), count(DISTINCT track_id) FROM features") == [(2, 2)]
    stems = query(home, "SELECT status, detail FROM stage_runs WHERE stage = 'stems'")
    assert stems and all(status == "skipped" and "CUDA" in detail for status, detail in stems)
    status = melodex("status", home=home)
    assert status.returncode == 0 and "CUDA is not available" in status.stdout


def test_scan_and_status_print_a_path_with_markup_literally(hostile):
    home, root, _, _ = hostile
    broken = root / "Broken [b]take.flac"
    broken.write_bytes(b"not audio at all" * 64)
    scan = melodex("scan", home=home, MELODEX_LIBRARY_ROOTS=str(root))
    assert scan.returncode == 0, scan.stdout + scan.stderr
    assert str(broken) in scan.stdout  # the failure line names the file as it is
    status = melodex("status", home=home)
    assert status.returncode == 0, status.stderr
    assert str(broken) in status.stdout and "Traceback" not in status.stderr


def test_sql_shows_stored_tags_literally_and_exactly(hostile):
    home, root, _, _ = hostile
    sql = "SELECT title, artist, path FROM live_tracks WHERE title IS NOT NULL ORDER BY title"
    table = melodex("sql", sql, home=home)
    assert table.returncode == 0, table.stderr
    assert INTRO in table.stdout and SONG in table.stdout and printable(ANSI_ARTIST) in table.stdout
    assert "\x1b" not in table.stdout
    assert "Live [/] Set" in table.stdout
    expected = query(home, sql)
    assert {row[0] for row in expected} == {INTRO, SONG}
    as_json = melodex("sql", sql, "--format", "json", home=home)
    assert [tuple(r.values()) for r in json.loads(as_json.stdout)] == expected
    as_csv = melodex("sql", sql, "--format", "csv", home=home)
    assert [tuple(r) for r in csv.reader(io.StringIO(as_csv.stdout))][1:] == expected


def test_sql_full_values_rounded_floats_and_documented_null_columns(hostile):
    home, _, _, _ = hostile
    stored = query(home, "SELECT track_id, loudness, tempo FROM audio_features ORDER BY track_id")
    done = melodex("sql", "SELECT * FROM audio_features ORDER BY track_id", "--vertical", home=home)
    assert done.returncode == 0, done.stderr
    for track_id, loudness, tempo in stored:
        assert track_id in done.stdout  # whole, not cut to a few characters
        assert re.search(rf"loudness\s+{re.escape(format_float(loudness))}\s", done.stdout)
        assert re.search(rf"tempo\s+{re.escape(format_float(tempo))}\s", done.stdout)
    footer = [text for text in done.stdout.splitlines() if text.startswith("NULL in every row")]
    reasons = documented_null_reasons()["audio_features"]
    energy = next(text for text in footer if "energy" in text)
    assert reasons["energy"] in energy  # the reason written in sql/audio_features_view.sql
    assert "time_signature" in " ".join(footer) and reasons["time_signature"] in " ".join(footer)


def test_sql_cannot_copy_over_the_store(hostile):
    home, _, _, _ = hostile
    db = home / "melodex.duckdb"
    before = query(home, "SELECT count(*) FROM tracks")
    for attack in (
        f"COPY (SELECT 1) TO '{db}' (FORMAT csv)",
        f"SELECT 1; COPY (SELECT 1) TO '{db}' (FORMAT csv)",
        f"ATTACH '{db.parent / 'x.duckdb'}' AS x",
    ):
        done = melodex("sql", attack, home=home)
        assert done.returncode == 2, attack
        assert len(done.error_lines) == 1 and "read-only" in done.error_lines[0], done.stderr
    assert query(home, "SELECT count(*) FROM tracks") == before  # still a DuckDB store, intact
    bad = melodex("sql", "SELECT * FROM no_such_table", home=home)
    assert bad.returncode == 2 and len(bad.error_lines) == 1 and "no_such_table" in bad.error_lines[0]


def test_printable_escapes_control_characters():
    assert printable("a\x1b[31mb\x00c\rd\x7f") == "a\\x1b[31mb\\x00c\\rd\\x7f"
    assert printable("two\nlines") == "two\nlines" and printable("two\nlines", newlines=False) == "two\\nlines"
    assert printable("caf\udce9") == "caf\\xe9"  # a non-UTF-8 byte of a file name, as it is
    assert printable("\u202eevil") == "\\u202eevil"
    assert printable("Intro [/b] (Live) é 日本") == "Intro [/b] (Live) é 日本"


@pytest.mark.parametrize(
    "value, shown",
    [(128.4412345, "128.44"), (-9.961734, "-9.9617"), (0.000123456, "0.00012346"), (1234567.891, "1234568"),
     (0.0, "0"), (3.0, "3"), (1.5e-7, "1.5000e-07")],
)
def test_floats_keep_five_significant_digits(value, shown):
    assert format_float(value) == shown
    assert float(shown) == pytest.approx(value, rel=1e-4)


def test_every_null_column_of_audio_features_has_its_documented_reason():
    """Ground truth from the view itself: the columns it selects as CAST(NULL ...)."""
    sql = sql_root().joinpath("audio_features_view.sql").read_text()
    always_null = set(re.findall(r"CAST\(NULL AS \w+\)\s+AS (\w+)", sql))
    assert always_null == {"energy", "valence", "speechiness", "liveness", "time_signature"}
    reasons = parse_null_reasons(sql)
    assert always_null <= set(reasons)
    assert all(reasons[name].startswith("NULL") for name in reasons)


def test_null_reason_parser_reads_continuations_and_multi_field_rows():
    def row(fields: str, source: str = "", definition: str = "") -> str:
        return "-- " + fields.ljust(10) + source.ljust(24) + definition

    long_reason = "NULL: not measured here, and a reason running on past the last header"
    sql = "\n".join([
        row("field", "source", "definition"),
        row("a", "plain value", "same"),
        row("b,", long_reason),  # one entry for b and c: the field list goes on below
        row("c"),
        row("d", "when found; NULL when", "theirs"),
        row("", "nothing was found", "more"),
        "--",
        row("e", "NULL after the table"),
        "CREATE VIEW v AS SELECT 1;",
    ])
    assert parse_null_reasons(sql) == {"b": long_reason, "c": long_reason, "d": "NULL when nothing was found"}


def test_results_of_a_statement_without_rows(hostile):
    home, _, _, _ = hostile
    done = melodex("sql", "SELECT * FROM tracks WHERE false", home=home)
    assert done.returncode == 0 and "(no rows)" in done.stdout


def test_a_missing_store_is_one_line(tmp_path):
    done = melodex("sql", "SELECT 1", home=tmp_path / "nowhere")
    assert done.returncode == 2 and len(done.error_lines) == 1 and "melodex run" in done.error_lines[0]
    assert not Path(tmp_path / "nowhere" / "melodex.duckdb").exists()
